"""The errors actuators raise: each names what was attempted and what the tool answered."""

from __future__ import annotations

from autoscaler.errors import OperatorError


class ActuatorError(OperatorError):
    """A Docker or nginx action failed."""

    def __init__(self, action: str, detail: str) -> None:
        super().__init__(f"{action}: {detail.strip()}")
        self.action = action
        self.detail = detail.strip()


class NginxConfigRejected(ActuatorError):
    """`nginx -t` refused a rendered config: the previous file was restored, nothing reloaded."""
