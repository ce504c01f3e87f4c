"""Actuators. They talk to the outside (the Docker engine, nginx) and only act: they never
decide. `replicas.py` holds the plain data and the pure choices; the rest does the I/O.
"""
