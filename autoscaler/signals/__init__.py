"""Signals as plug-ins (the shape of KEDA's scalers): one module per kind, each owning its config
model, its reader and its proposal, and this one table of every kind. Adding a kind is one new
module and one line in KINDS; nothing else in the code names a kind.

No I/O at import: a kind's reader talks to the outside only through the clients it is handed
(autoscaler.runtime.wiring builds them), and its proposal is pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from autoscaler.signals import bullmq_queue, nginx_in_flight, nginx_request_rate
from autoscaler.signals.kind import Connections, Reader, Reading, SignalSettings

KINDS = (
    bullmq_queue.QueueSignal,
    nginx_in_flight.InFlightSignal,
    nginx_request_rate.RequestRateSignal,
)
"""Every signal kind's config model, told apart by its `kind` key."""

KIND_NAMES = tuple(kind.model_fields["kind"].default for kind in KINDS)

if TYPE_CHECKING:
    SignalConfig = SignalSettings
else:
    SignalConfig = Annotated[Union[KINDS], Field(discriminator="kind")]  # noqa: UP007 (built at run time from the table)

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "Connections",
    "Reader",
    "Reading",
    "SignalConfig",
    "SignalSettings",
]
