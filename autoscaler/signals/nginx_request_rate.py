"""The `nginx_request_rate` signal: requests per second through nginx (stub_status `requests`
counter), at a target per ready replica."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from autoscaler.signals.nginx_stub_status import HttpLoad, NginxSignal


class RequestRateSignal(NginxSignal):
    """Scale on the request rate through nginx (stub_status `requests` counter)."""

    kind: Literal["nginx_request_rate"] = "nginx_request_rate"
    target_per_replica: float = Field(
        gt=0, description="Requests per second one ready replica should serve on average."
    )
    unit = "req/s"

    def figure(self, load: HttpLoad) -> float | None:
        return load.request_rate
