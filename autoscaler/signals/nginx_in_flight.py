"""The `nginx_in_flight` signal: requests in flight through nginx (stub_status Reading +
Writing), at a target per ready replica."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from autoscaler.signals.nginx_stub_status import HttpLoad, NginxSignal


class InFlightSignal(NginxSignal):
    """Scale on requests in flight through nginx (stub_status Reading + Writing)."""

    kind: Literal["nginx_in_flight"] = "nginx_in_flight"
    target_per_replica: float = Field(
        gt=0, description="In-flight requests one ready replica should hold on average."
    )
    unit = "in flight"

    def figure(self, load: HttpLoad) -> float:
        return load.in_flight
