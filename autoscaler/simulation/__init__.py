"""Replay a load trace through a service model under compose-flowise's policy, the Kubernetes
HPA and an oracle, and score each.

Purely computational, no I/O here, except `trace.read_trace` (reads the CSV) and `command`
(the `simulate` subcommand: reads the config and prints).
"""
