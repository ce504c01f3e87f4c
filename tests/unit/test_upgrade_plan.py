"""The rolling upgrade's plan: which replicas are replaced, in which order, and what it says."""

from __future__ import annotations

from datetime import UTC, datetime

from autoscaler.actuators.replicas import Replica
from autoscaler.envfile import parse_env, with_value
from autoscaler.stack.upgrade_plan import Image, plan_upgrade

OLD = Image("flowise:3.1.4", "sha256:old")
NEW = Image("flowise:3.2.0", "sha256:new")
SERVICES = ("flowise-worker", "flowise")


def replica(service: str, number: int, image: Image = OLD, state: str = "running") -> Replica:
    return Replica(
        f"{service}{number}", f"p-{service}-{number}", service, number, state, None,
        datetime(2026, 1, 1, tzinfo=UTC), {"net": f"10.0.0.{number}"}, image=image.ref, image_id=image.id,
    )  # fmt: skip


def plan(*replicas: Replica, image: Image = NEW):
    snapshot: dict[str, list[Replica]] = {}
    for r in replicas:
        snapshot.setdefault(r.service, []).append(r)
    return plan_upgrade(snapshot, image, OLD.ref, SERVICES, "flowise", 180, 60)


def test_mains_first_one_at_a_time_the_first_alone_migrating() -> None:
    chosen = plan(replica("flowise-worker", 1), replica("flowise", 2), replica("flowise", 1))
    assert [(s.old.name, s.routed, s.migrates) for s in chosen.replacements] == [
        ("p-flowise-1", True, True),
        ("p-flowise-2", True, False),
        ("p-flowise-worker-1", False, False),
    ]


def test_replicas_on_the_image_already_are_kept() -> None:
    """A second run after an interrupted upgrade finishes it."""
    chosen = plan(replica("flowise", 1, NEW), replica("flowise", 2), replica("flowise-worker", 1))
    assert [s.old.name for s in chosen.replacements] == ["p-flowise-2", "p-flowise-worker-1"]
    assert chosen.replacements[0].migrates, "the first replica started in this run is alone"


def test_the_same_tag_pulled_anew_is_another_image() -> None:
    moved = Image(OLD.ref, "sha256:pulled")
    assert [s.old.name for s in plan(replica("flowise", 1), image=moved).replacements] == [
        "p-flowise-1"
    ]


def test_warm_and_stopped_replicas_go_first_and_are_not_replaced() -> None:
    chosen = plan(replica("flowise", 1), replica("flowise-worker", 1),
                  replica("flowise-worker", 2, state="paused"),
                  replica("flowise", 3, state="exited"))  # fmt: skip
    assert [r.name for r in chosen.leftovers] == ["p-flowise-3", "p-flowise-worker-2"]
    assert [s.old.name for s in chosen.replacements] == ["p-flowise-1", "p-flowise-worker-1"]


def test_other_services_are_left_alone() -> None:
    chosen = plan(replica("flowise", 1), replica("postgres", 1))
    assert [s.old.service for s in chosen.replacements] == ["flowise"]


def test_the_steps_say_what_happens_in_order() -> None:
    steps = plan(replica("flowise", 1), replica("flowise-worker", 1)).steps()
    assert steps[0].startswith("hold the daemon's counts")
    assert steps[1] == (
        "flowise: start one replica of flowise:3.2.0 alone (it migrates the database); wait up "
        "to 180s until it is healthy, then route it (nginx -t, reload)"
    )
    assert steps[2] == (
        "flowise: take p-flowise-1 out of the upstream, wait up to 60s until nginx has no "
        "request in flight to it, stop and remove it"
    )
    assert steps[3].startswith("flowise-worker: start one replica of flowise:3.2.0; wait up to")
    assert "until p-flowise-worker-1 runs no job" in steps[4]
    assert steps[-2] == "set FLOWISE_IMAGE=flowise:3.2.0 in .env, release the hold"
    assert "back on flowise:3.1.4" in steps[-1]


def test_nothing_to_replace_only_names_the_image() -> None:
    chosen = plan(replica("flowise", 1, NEW))
    assert not chosen.changes_replicas
    assert chosen.steps() == ("no replica runs an image other than flowise:3.2.0",
                              "set FLOWISE_IMAGE=flowise:3.2.0 in .env")  # fmt: skip


def test_the_env_file_gets_the_image_in_place() -> None:
    before = "# images\nFLOWISE_IMAGE=flowise:3.1.4\nPULL_POLICY=never\n"
    after = with_value(before, "FLOWISE_IMAGE", "flowise:3.2.0")
    assert after == "# images\nFLOWISE_IMAGE=flowise:3.2.0\nPULL_POLICY=never\n"
    assert parse_env(with_value("A=1\n", "FLOWISE_IMAGE", "x"))["FLOWISE_IMAGE"] == "x"
    assert with_value("# FLOWISE_IMAGE=old\n", "FLOWISE_IMAGE", "x").endswith("\nFLOWISE_IMAGE=x\n")


def test_an_image_not_on_this_host_is_pulled_first() -> None:
    steps = plan(replica("flowise", 1), image=Image("flowise:3.2.0", "")).steps()
    assert steps[:2] == ("pull flowise:3.2.0 (not on this host)",
                         "hold the daemon's counts (state file), take each service's actuation lock")  # fmt: skip


def test_a_rollback_to_a_tag_pulled_anew_would_start_the_failed_image() -> None:
    same_tag = Image(OLD.ref, "sha256:pulled-anew")
    chosen = plan_upgrade({"flowise": [replica("flowise", 1)]}, same_tag, OLD.ref, SERVICES,
                          "flowise", 180, 60)  # fmt: skip
    assert chosen.moved_away(same_tag)
    assert not chosen.moved_away(OLD), "the tag still names what the replicas ran"
    assert not plan(replica("flowise", 1)).moved_away(OLD)
