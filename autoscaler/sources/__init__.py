"""Metric sources. They talk to the outside (Redis, nginx) and only read; they never decide.

Every failure comes back as an `Unavailable` with its reason, never as an exception.
"""
