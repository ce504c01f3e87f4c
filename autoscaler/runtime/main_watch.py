"""The watch for deaf mains: each tick it reads nginx's open connections to the mains it routes
to and notes what the queues show, keeps both in a `ConnectionLedger`, asks the pure
`judge_mains`, and plans a deaf main's restart (out of the upstream, then restarted:
`MainRestart`), which the tick runs as an action of its own. A read that fails starts the watch
over: missing evidence never restarts anything. With no request in flight through nginx (its
stub_status, which the tick reads anyway), nginx holds no connection to any main: that is the
read, and its `docker exec` is spared.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.main_restart import MainRestart, RestartPlan
from autoscaler.actuators.plan import Routing
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.config import DeafMainSettings
from autoscaler.policy.deaf_mains import ConnectionLedger, QueueWork, judge_mains

READS_PER_WINDOW = 12


@dataclass(frozen=True)
class WatchOutcome:
    restart: RestartPlan | None = None
    """A deaf main to restart: one at a time (one action per service), the first judged."""
    error: str | None = None
    """Why nginx's connections could not be read: nothing was judged."""


class MainWatch:
    def __init__(
        self,
        rules: DeafMainSettings,
        routing: Routing,
        upstream: NginxUpstream,
        restart: MainRestart,
    ) -> None:
        self._rules = rules
        self._routing = routing
        self._upstream = upstream
        self._restart = restart
        self._ledger = ConnectionLedger()
        self._last_read: float | None = None

    def check(
        self,
        snapshot: Snapshot | None,
        now: float,
        in_flight: int | None = None,
        work: QueueWork | None = None,
    ) -> WatchOutcome:
        """Read, judge; the restart of a deaf main found. `in_flight`: the requests in flight
        through nginx as this tick's stub_status read counted them; None when not read.
        `work`: what this tick's read of the workers' queues shows; None when not read."""
        self._ledger = self._ledger.observe_queues(work, now, self._rules.after_seconds)
        if not self._read_due(now):
            return WatchOutcome()
        self._last_read = now
        mains = self._routed_mains(snapshot) if snapshot is not None else {}
        if snapshot is None or not mains:
            self._ledger = self._ledger.interrupted()
            return WatchOutcome()
        try:
            open_now = {} if in_flight == 0 else self._read(snapshot, mains)
        except ActuatorError as error:
            self._ledger = self._ledger.interrupted()
            return WatchOutcome(error=f"deaf mains: cannot read nginx's connections: {error}")
        rules = self._rules
        self._ledger = self._ledger.observe(open_now, now, rules.after_seconds)
        names = {server: main.name for server, main in mains.items()}
        deaf = judge_mains(self._ledger, names, now, rules.after_seconds, rules.min_stuck_requests)
        if not deaf:
            return WatchOutcome()
        first = deaf[0]
        # Restarted or not, its evidence is spent: a failed restart waits for new evidence.
        self._ledger = self._ledger.forget(first.server)
        return WatchOutcome(RestartPlan(mains[first.server], first.reason))

    def restart(self, plan: RestartPlan) -> None:
        """The restart planned by `check`: run in the service's action, never in a tick."""
        self._restart.apply(plan)

    def _read_due(self, now: float) -> bool:
        """A read costs a `docker exec` in nginx: a dozen per window tell a deaf main as well as
        one per tick does, at a fraction of the engine's time."""
        period = self._rules.after_seconds / READS_PER_WINDOW
        return self._last_read is None or now - self._last_read >= period

    def _routed_mains(self, snapshot: Snapshot) -> dict[str, Replica]:
        """server (IP:PORT as nginx reaches it) -> the main, for each main nginx routes to."""
        nginx = self._nginx(snapshot)
        if nginx is None:
            return {}
        port = self._routing.upstream_port
        mains = {}
        for main in snapshot.get(self._routing.upstream_service, []):
            address = main.address_on(nginx.addresses)
            if main.routable and address:
                mains[f"{address}:{port}"] = main
        return mains

    def _read(self, snapshot: Snapshot, mains: dict[str, Replica]) -> dict[str, str]:
        nginx = self._nginx(snapshot)
        if nginx is None:
            raise ActuatorError("find nginx", "no running container")
        return self._upstream.open_sockets(nginx, mains.keys())

    def _nginx(self, snapshot: Snapshot) -> Replica | None:
        """The running nginx whose connections this engine can read (on a Swarm: on this node)."""
        running = (r for r in snapshot.get(self._routing.nginx_service, []) if r.state == "running")
        return next((r for r in running if self._upstream.reaches(r)), None)
