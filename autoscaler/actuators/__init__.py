"""Actuators. They talk to the outside (the Docker engine, nginx) and only act: they never
decide. `replicas` and `plan` are plain data and pure choices; `backend` is the protocol a
backend implements; `compose`, `upstream` and `transaction` do the I/O.
"""
