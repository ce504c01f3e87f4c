"""Replay a load trace through a service model of job slots under compose-flowise's policy,
KEDA (the Kubernetes HPA), Knative's KPA and an oracle, and score each next to a lower bound.

Purely computational, no I/O here, except `trace.read_trace` (reads the CSV) and `command`
(the `simulate` subcommand: reads the config and prints).
"""
