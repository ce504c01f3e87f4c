"""Replay a load trace through a service model of job slots under compose-flowise's policy,
KEDA (the Kubernetes HPA), Knative's KPA and an oracle, and score each next to a lower bound.

Purely computational, no I/O here, except `trace.read_trace` (reads the CSV). The `simulate`
command that drives it is autoscaler.commands.simulate.
"""
