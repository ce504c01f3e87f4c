"""Replay a load trace through a service model under compose-flowise's policy, the Kubernetes
HPA and an oracle, and score each.

Purely computational, no I/O here, except `trace.read_trace` (reads the CSV). The `simulate`
command that drives it is autoscaler.commands.simulate.
"""
