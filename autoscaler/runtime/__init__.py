"""The daemon and what it runs on: the tick (autoscaler), the one observe -> decide path
(observe), the scheduler and signals (daemon), the Redis lease, the state file, metrics and logs
out (telemetry), manual pins, status, and `wiring`, the one place that builds real clients.
Talks to the outside only through what `wiring` builds."""
