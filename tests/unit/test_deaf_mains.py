"""The deaf-main judgement: pure, on the connections nginx holds to each main, read by read."""

from __future__ import annotations

from autoscaler.policy.deaf_mains import ConnectionLedger, QueueWork, judge_mains

A, B = "172.18.0.5:3000", "172.18.0.6:3000"
MAINS = {A: "p-flowise-1", B: "p-flowise-2"}
WINDOW = 30.0


def watched(
    reads: list[dict[str, str]], every: float = 2.0, queues: list[QueueWork | None] | None = None
) -> tuple[ConnectionLedger, float]:
    """The ledger after `reads` (each: open connection -> server), `every` seconds apart, each
    beside a read of the queues (`queues`; none read when not given)."""
    ledger, now = ConnectionLedger(), 0.0
    for number, open_now in enumerate(reads):
        if queues is not None:
            ledger = ledger.observe_queues(queues[number], now, WINDOW)
        ledger = ledger.observe(open_now, now, WINDOW)
        now += every
    return ledger, now - every


DONE = QueueWork(jobs_finished=True, idle=True)
"""The workers finished jobs since the previous read, and none is left."""
BUSY = QueueWork(jobs_finished=True, idle=False)
EVERY_MAIN_SILENT = [{"a-stuck": A, "a-stuck-2": A, "b-stuck": B}] * 20


def deaf_a_while_b_answers(reads: int) -> list[dict[str, str]]:
    """A holds one request all along; B answers a new request at every read."""
    return [{"a-stuck": A, f"b-{i}": B} for i in range(reads)]


def test_a_main_holding_requests_while_the_other_answers_is_deaf() -> None:
    ledger, now = watched(deaf_a_while_b_answers(20))
    [deaf] = judge_mains(ledger, MAINS, now, WINDOW)
    assert deaf.server == A
    assert deaf.stuck == 1
    assert "p-flowise-1 is deaf: 1 request(s) open longer than 30 s" in deaf.reason
    assert "p-flowise-2" in deaf.reason


def test_no_verdict_before_the_ledger_watched_a_whole_window() -> None:
    ledger, now = watched(deaf_a_while_b_answers(10))  # 18 s of a 30 s window
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_a_failed_read_starts_the_watch_over() -> None:
    ledger, now = watched(deaf_a_while_b_answers(20))
    ledger = ledger.interrupted().observe({"a-stuck": A, "b-x": B}, now + 2, WINDOW)
    assert judge_mains(ledger, MAINS, now + 2, WINDOW) == []


def test_no_main_is_deaf_when_none_answers() -> None:
    """Workers down or a stalled queue: every main waits; not one main's fault."""
    ledger, now = watched([{"a-stuck": A, "b-stuck": B}] * 20)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_a_main_that_answers_too_is_not_deaf_even_with_a_long_request() -> None:
    reads = [{"a-long": A, f"a-{i}": A, f"b-{i}": B} for i in range(20)]
    ledger, now = watched(reads)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_requests_cut_by_giving_up_clients_are_not_answers() -> None:
    """A client gives up on its request to A after 40 s and sends another: A answered none."""
    reads = [{f"a-{i // 20}": A, f"b-{i}": B} for i in range(60)]
    ledger, now = watched(reads)
    [deaf] = judge_mains(ledger, MAINS, now, WINDOW)
    assert deaf.server == A


def test_fewer_stuck_requests_than_the_minimum_are_no_verdict() -> None:
    ledger, now = watched(deaf_a_while_b_answers(20))
    assert judge_mains(ledger, MAINS, now, WINDOW, min_stuck_requests=2) == []


def test_a_restarted_main_is_judged_afresh() -> None:
    ledger, now = watched(deaf_a_while_b_answers(20))
    assert judge_mains(ledger.forget(A), MAINS, now, WINDOW) == []


def test_answers_older_than_the_window_are_forgotten() -> None:
    """B answered long ago, then both went quiet with requests open: no evidence against A."""
    reads = deaf_a_while_b_answers(5) + [{"a-stuck": A, "b-stuck": B}] * 20
    ledger, now = watched(reads)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []
    assert B not in ledger.completions


def test_every_main_is_deaf_when_none_answers_while_the_workers_finish_every_job() -> None:
    """After a Redis restart every main may have lost its Redis client: the workers run the
    jobs until none is left, and no main answers."""
    ledger, now = watched(EVERY_MAIN_SILENT, queues=[BUSY] * 15 + [DONE] * 5)
    deaf = judge_mains(ledger, MAINS, now, WINDOW)
    assert [(d.server, d.stuck) for d in deaf] == [(A, 2), (B, 1)]
    assert "while the workers finished jobs until none was left" in deaf[0].reason


def test_jobs_always_left_are_no_evidence_against_a_silent_main() -> None:
    """Jobs wait or run at every read: the requests may wait for theirs (a backlog, or long
    document loading), however many others finish."""
    ledger, now = watched(EVERY_MAIN_SILENT, queues=[BUSY] * 20)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_queues_unread_are_no_evidence() -> None:
    ledger, now = watched(EVERY_MAIN_SILENT, queues=[None] * 20)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_idle_queues_with_no_job_finished_are_no_evidence() -> None:
    """Nothing ran: a lost job, or requests that are no jobs at all."""
    idle = QueueWork(jobs_finished=False, idle=True)
    ledger, now = watched(EVERY_MAIN_SILENT, queues=[idle] * 20)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []


def test_jobs_finished_before_the_window_are_no_evidence() -> None:
    idle = QueueWork(jobs_finished=False, idle=True)
    ledger, now = watched(EVERY_MAIN_SILENT, queues=[DONE] * 4 + [idle] * 16)
    assert judge_mains(ledger, MAINS, now, WINDOW) == []
