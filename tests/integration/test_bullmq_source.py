"""The BullMQ source against a real Redis, with queues written by the real BullMQ client."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import redis
from bullmq import Queue, Worker

from autoscaler.policy import Unavailable
from autoscaler.runtime.observe import Sensors
from autoscaler.signals import Connections
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.signals.bullmq_reads import BullMQQueue, ClientList, QueueDepth, QueueLoad


@pytest.fixture
def client(redis_server: str):
    connection = redis.Redis.from_url(redis_server, socket_timeout=2)
    connection.flushdb()
    yield connection
    connection.close()


async def enqueue(url: str, queue: str, jobs: list[dict], **options) -> None:
    bull_queue = Queue(queue, {"connection": url})
    for data in jobs:
        await bull_queue.add("prediction", data, options)
    await bull_queue.close()


def add_jobs(url: str, queue: str, count: int, **options) -> None:
    asyncio.run(enqueue(url, queue, [{"n": number} for number in range(count)], **options))


def read_as_the_daemon(source: BullMQQueue) -> object:
    """What the daemon's sensors make of a read: a failure is a reading, never an exception."""
    return Sensors({"queue": source}, {"signal": "queue"}).read(now=0.0)["signal"]


def load_of(source: BullMQQueue) -> QueueLoad:
    load = source.read(now=0.0)
    assert isinstance(load, QueueLoad), load
    return load


def pause(url: str, queue: str) -> None:
    async def run() -> None:
        bull_queue = Queue(queue, {"connection": url})
        await bull_queue.pause()
        await bull_queue.close()

    asyncio.run(run())


def test_a_queue_no_job_was_added_to_yet_is_empty_not_missing(client) -> None:
    """Redis answered: a queue with no keys yet (no job added, no worker listening) is empty."""
    depth = BullMQQueue(client, "flowise-queue-upsertion").depth()
    assert (depth.backlog, depth.active, depth.jobs_created) == (0, 0, 0)
    assert read_as_the_daemon(BullMQQueue(client, "flowise-queue-upsertion")) == QueueLoad(
        backlog=0, active=0, arrival_rate=None, completion_rate=None, workers=0, stalled=None
    )


def test_waiting_jobs_are_the_backlog(client, redis_server) -> None:
    add_jobs(redis_server, "flowise-queue-prediction", 3)
    depth = BullMQQueue(client, "flowise-queue-prediction").depth()
    assert depth == QueueDepth(
        waiting=3, paused=0, prioritized=0, delayed=0, waiting_children=0, active=0,
        jobs_created=3,
    )  # fmt: skip


def test_prioritized_and_paused_jobs_count_delayed_ones_apart(client, redis_server) -> None:
    add_jobs(redis_server, "q", 2, priority=5)
    add_jobs(redis_server, "q", 1, delay=60_000)
    pause(redis_server, "q")
    add_jobs(redis_server, "q", 4)
    depth = BullMQQueue(client, "q").depth()
    assert isinstance(depth, QueueDepth)
    assert (depth.prioritized, depth.delayed) == (2, 1)
    assert depth.backlog == 6
    assert depth.jobs_created == 7


def test_the_paused_list_of_older_bullmq_versions_counts(client) -> None:
    client.set("bull:q:id", 3)
    client.rpush("bull:q:paused", "1", "2", "3")
    depth = BullMQQueue(client, "q").depth()
    assert isinstance(depth, QueueDepth)
    assert (depth.paused, depth.backlog) == (3, 3)


def test_active_jobs_are_read_from_the_active_list(client) -> None:
    client.set("bull:q:id", 5)
    client.rpush("bull:q:active", "4", "5")
    depth = BullMQQueue(client, "q").depth()
    assert isinstance(depth, QueueDepth)
    assert (depth.active, depth.backlog) == (2, 0)


def test_arrivals_and_completions_between_two_loads(client, redis_server) -> None:
    source = BullMQQueue(client, "q")
    add_jobs(redis_server, "q", 2)
    first = source.read(now=100.0)
    assert first == QueueLoad(2, 0, arrival_rate=None, completion_rate=None, workers=0)
    add_jobs(redis_server, "q", 10)
    client.lpop("bull:q:wait", 5)  # five jobs taken and finished meanwhile
    second = source.read(now=110.0)
    assert second == QueueLoad(7, 0, arrival_rate=1.0, completion_rate=0.5, workers=0, stalled=0)


def test_the_wrong_password_is_unavailable_and_says_why(redis_server) -> None:
    wrong = redis.Redis.from_url(redis_server.replace("test-secret", "nope"), socket_timeout=2)
    read = read_as_the_daemon(BullMQQueue(wrong, "q"))
    assert isinstance(read, Unavailable) and read.source == "redis"
    assert "redis queue bull:q: AuthenticationError" in read.reason
    assert "nope" not in read.reason


def test_a_redis_that_is_down_is_unavailable(unused_port: int) -> None:
    down = redis.Redis(port=unused_port, socket_connect_timeout=1)
    read = read_as_the_daemon(BullMQQueue(down, "q"))
    assert isinstance(read, Unavailable)
    assert "ConnectionError" in read.reason


def test_a_key_of_the_wrong_type_is_unavailable(client) -> None:
    client.set("bull:q:wait", "not a list")
    client.set("bull:q:id", 1)
    assert isinstance(read_as_the_daemon(BullMQQueue(client, "q")), Unavailable)


def connections_to(client: redis.Redis, worker_concurrency: int | None) -> Connections:
    return Connections(
        redis=client, key_prefix="bull", http=None, stub_status_url="http://nginx/stub_status",
        http_timeout_seconds=1, worker_concurrency=worker_concurrency,
    )  # fmt: skip


def client_list_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_client|list", {})
    return int(stats.get("calls", 0))


def test_the_queues_read_at_one_moment_share_one_client_list(client, redis_server) -> None:
    """CLIENT LIST, the costliest read of a tick, once for every queue read at that moment."""
    add_jobs(redis_server, "q", 1)
    opened = replace(connections_to(client, None), redis_clients=ClientList(client))
    readers = [QueueSignal(queue=name, jobs_per_second_per_replica=1).open_reader(opened)
               for name in ("q", "other")]  # fmt: skip
    before = client_list_calls(client)
    for now in (1.0, 2.0):
        assert all(isinstance(reader.read(now), QueueLoad) for reader in readers)
    assert client_list_calls(client) - before == 2


CONCURRENCIES = {
    "the stack's": (None, 8, 8),
    "the config's over the stack's": (4, 8, 4),
    "the config's where the stack says none": (4, None, 4),
    "none known": (None, None, None),
}


@pytest.mark.parametrize(
    ("configured", "stack", "expected"), CONCURRENCIES.values(), ids=CONCURRENCIES.keys()
)
def test_the_load_carries_the_concurrency_the_config_or_else_the_stack_sets(
    client, redis_server, configured, stack, expected
) -> None:
    add_jobs(redis_server, "q", 1)
    signal = QueueSignal(queue="q", jobs_per_second_per_replica=1, concurrency=configured)
    assert load_of(signal.open_reader(connections_to(client, stack))).concurrency == expected


FLOWISE_QUEUE = "flowise-queue-prediction"


def connections_named(client: redis.Redis, name: str) -> int:
    return sum(1 for connection in client.client_list() if connection["name"] == name)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Lets the workers run until `condition` holds; fails the test after 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after 10 s")
        await asyncio.sleep(0.02)


async def finish_at_once(job, token) -> None:
    return None


async def run_as_told(job, token) -> None:
    """Takes the job's `seconds`; fails it when it says `fail`, as a flow that throws."""
    await asyncio.sleep(job.data["seconds"])
    if job.data.get("fail"):
        raise RuntimeError("the flow failed")


@asynccontextmanager
async def workers_on(queue: str, *urls: str, processor=finish_at_once) -> AsyncIterator[None]:
    """One Python BullMQ worker per URL, ten jobs at once, closed on the way out. Forced: a
    graceful close now and then waits forever on the worker's own fetch of the next job (about
    one close in 70 here, bullmq 3.4), and no job is left running by then."""
    options = {"concurrency": 10}
    workers = [Worker(queue, processor, {"connection": url, **options}) for url in urls]
    try:
        yield
    finally:
        for worker in workers:
            await worker.close(force=True)


def unix_socket_url(client: redis.Redis, redis_server: str) -> str:
    """The shared server's unix socket: a client there connects from another address."""
    socket_file = client.config_get("unixsocket")["unixsocket"]
    return f"unix://:{urlsplit(redis_server).password}@{socket_file}"


def test_a_worker_counts_once_though_it_holds_two_connections(client, redis_server) -> None:
    add_jobs(redis_server, "q", 1)
    source = BullMQQueue(client, "q")

    async def run() -> None:
        assert load_of(source).workers == 0
        async with workers_on("q", redis_server):
            await until(lambda: connections_named(client, "bull:q") == 2, "registered")
            assert load_of(source).workers == 1

    asyncio.run(run())


def test_workers_on_two_hosts_are_two_and_none_once_they_close(client, redis_server) -> None:
    add_jobs(redis_server, "q", 1)
    source = BullMQQueue(client, "q")

    async def run() -> None:
        async with workers_on("q", redis_server, unix_socket_url(client, redis_server)):
            await until(lambda: connections_named(client, "bull:q") == 4, "registered")
            assert load_of(source).workers == 2
        await until(lambda: connections_named(client, "bull:q") == 0, "disconnected")
        assert load_of(source).workers == 0

    asyncio.run(run())


# As BullMQ names its connections, for the queue `flowise-queue-prediction` under `bull`.
CLIENT_NAMES = {
    "a Node BullMQ worker (Flowise's)": ("bull:Zmxvd2lzZS1xdWV1ZS1wcmVkaWN0aW9u", 1),
    "a Node BullMQ worker with a name": ("bull:Zmxvd2lzZS1xdWV1ZS1wcmVkaWN0aW9u:w:one", 1),
    "a Python BullMQ worker": ("bull:flowise-queue-prediction", 1),
    "Node BullMQ queue events (a main)": ("bull:Zmxvd2lzZS1xdWV1ZS1wcmVkaWN0aW9u:qe", 0),
    "a worker of the upsertion queue": ("bull:Zmxvd2lzZS1xdWV1ZS11cHNlcnRpb24=", 0),
    "a worker under another prefix": ("other:Zmxvd2lzZS1xdWV1ZS1wcmVkaWN0aW9u", 0),
}


@pytest.mark.parametrize(("name", "expected"), CLIENT_NAMES.values(), ids=CLIENT_NAMES.keys())
def test_a_connection_is_a_worker_by_the_name_bullmq_gives_it(
    client, redis_server, name, expected
) -> None:
    add_jobs(redis_server, FLOWISE_QUEUE, 1)
    source = BullMQQueue(client, FLOWISE_QUEUE)
    assert load_of(source).workers == 0
    with redis.Redis.from_url(redis_server, single_connection_client=True) as named:
        named.client_setname(name)
        assert connections_named(client, name) == 1
        assert load_of(source).workers == expected


@pytest.fixture(scope="module")
def client_list_renamed_away(start_redis) -> tuple[redis.Redis, str]:
    """A Redis without CLIENT, as some managed services run it; and its URL."""
    url = start_redis("--rename-command", "CLIENT", "")
    return redis.Redis.from_url(url, socket_timeout=2), url


@pytest.fixture
def client_list_denied_by_acl(client, redis_server) -> tuple[redis.Redis, str]:
    """A user who may not run CLIENT, on the shared Redis; and the URL jobs are added with."""
    client.acl_setuser(
        "reader", enabled=True, passwords=["+reader-secret"], keys=["*"], channels=["*"],
        commands=["+@all", "-client"],
    )  # fmt: skip
    as_reader = redis_server.replace(":test-secret@", "reader:reader-secret@")
    user = redis.Redis.from_url(as_reader, socket_timeout=2)
    yield user, redis_server
    user.close()
    client.acl_deluser("reader")


@pytest.mark.parametrize("refusing", ["client_list_renamed_away", "client_list_denied_by_acl"])
def test_a_redis_that_refuses_client_list_reads_no_workers_but_the_rest(request, refusing) -> None:
    client, url = request.getfixturevalue(refusing)
    with pytest.raises(redis.ResponseError):
        client.client_list()
    add_jobs(url, "q", 3)
    load = read_as_the_daemon(BullMQQueue(client, "q"))
    assert isinstance(load, QueueLoad)
    assert (load.backlog, load.workers) == (3, None)


def finished_jobs(client: redis.Redis, queue: str) -> int:
    return client.zcard(f"bull:{queue}:completed") + client.zcard(f"bull:{queue}:failed")


async def run_times_bullmq_recorded(url: str, queue: str) -> dict[str, float]:
    """Job id -> finishedOn - processedOn in seconds, of every finished job, as BullMQ reads them."""
    bull_queue = Queue(queue, {"connection": url})
    jobs = await bull_queue.getJobs(["completed", "failed"])
    await bull_queue.close()
    return {job.id: (job.finishedOn - job.processedOn) / 1000 for job in jobs}


def test_the_mean_run_time_is_of_the_jobs_finished_since_the_previous_read(
    client, redis_server
) -> None:
    source = BullMQQueue(client, "q")

    async def run() -> None:
        await enqueue(redis_server, "q", [{"seconds": 0}] * 4)
        assert load_of(source).mean_job_seconds is None, "the first read"
        async with workers_on("q", redis_server, processor=run_as_told):
            await until(lambda: finished_jobs(client, "q") == 4, "4 finished")
            first = await run_times_bullmq_recorded(redis_server, "q")
            assert load_of(source).mean_job_seconds == pytest.approx(
                statistics.fmean(first.values())
            )

            await enqueue(redis_server, "q", [{"seconds": 0.3}, {"seconds": 0.2, "fail": True}])
            await until(lambda: finished_jobs(client, "q") == 6, "6 finished")
            assert client.zcard("bull:q:failed") == 1
            recorded = await run_times_bullmq_recorded(redis_server, "q")
            since = [seconds for job, seconds in recorded.items() if job not in first]
            assert min(since) >= 0.2, "the jobs since took their time"
            assert statistics.fmean(since) != pytest.approx(statistics.fmean(recorded.values()))
            load = load_of(source)
            assert load.mean_job_seconds == pytest.approx(statistics.fmean(since))
            assert load.timed_jobs == 2, "the mean stands for the 2 jobs it timed"

            load = load_of(source)
            assert (load.mean_job_seconds, load.timed_jobs) == (None, None), "none finished since"

    asyncio.run(run())


def record_finished_job(
    client: redis.Redis, job_id: str, started_ms: int, finished_ms: int, state: str = "completed"
) -> None:
    """A finished job as BullMQ leaves it: its id in the state's set scored by finishedOn, and its
    hash with processedOn and finishedOn."""
    client.zadd(f"bull:q:{state}", {job_id: finished_ms})
    client.hset(f"bull:q:{job_id}", mapping={"processedOn": started_ms, "finishedOn": finished_ms})


def test_each_read_times_only_the_jobs_finished_after_the_previous_one(client) -> None:
    client.set("bull:q:id", 2)
    source = BullMQQueue(client, "q")
    assert load_of(source).mean_job_seconds is None, "the first read"
    record_finished_job(client, "1", 1_000, 3_000)
    assert load_of(source).mean_job_seconds == 2.0
    record_finished_job(client, "2", 2_000, 6_000)
    assert load_of(source).mean_job_seconds == 4.0
    assert load_of(source).mean_job_seconds is None


def test_failed_jobs_are_timed_and_jobs_whose_hash_is_gone_are_left_out(client) -> None:
    client.set("bull:q:id", 3)
    source = BullMQQueue(client, "q")
    load_of(source)
    record_finished_job(client, "1", 1_000, 3_000)
    record_finished_job(client, "2", 2_000, 6_000, state="failed")
    record_finished_job(client, "3", 5_000, 7_000)
    client.delete("bull:q:3")  # as REMOVE_ON_COUNT would between the reader's round trips
    assert client.zscore("bull:q:completed", "3") == 7_000 and not client.exists("bull:q:3")
    assert load_of(source).mean_job_seconds == 3.0


def test_only_the_newest_fifty_finished_jobs_are_timed_completed_and_failed_together(
    client,
) -> None:
    client.set("bull:q:id", 100)
    source = BullMQQueue(client, "q")
    load_of(source)
    for n in range(25):
        for state in ("completed", "failed"):
            record_finished_job(client, f"old-{state}-{n}", n, 100_000 + n, state)  # 100 s
            record_finished_job(client, f"new-{state}-{n}", 199_000 + n, 200_000 + n, state)  # 1 s
    assert (client.zcard("bull:q:completed"), client.zcard("bull:q:failed")) == (50, 50)
    assert load_of(source).mean_job_seconds == 1.0


def test_the_jobs_each_worker_runs_are_told_by_their_locks(client, redis_server) -> None:
    source = BullMQQueue(client, "q")
    asyncio.run(enqueue(redis_server, "q", [{"seconds": 30}] * 3))

    async def run() -> None:
        busy = Worker("q", run_as_told, {"connection": redis_server, "concurrency": 2})
        try:
            await until(lambda: sum(source.jobs_by_worker().values()) == 2, "running two")
            assert source.jobs_by_worker() == {busy.id: 2}
            idle_soon = Worker("q", run_as_told, {"connection": redis_server, "concurrency": 5})
            try:
                await until(lambda: len(source.jobs_by_worker()) == 2, "running on both")
                assert source.jobs_by_worker() == {busy.id: 2, idle_soon.id: 1}
            finally:
                await idle_soon.close(force=True)
        finally:
            await busy.close(force=True)

    asyncio.run(run())


def stalls_of(client: redis.Redis, job: str) -> int:
    """BullMQ's count of a job's stalls: `stc` in Python BullMQ 3.4, `stalledCounter` in Node
    BullMQ 5 (Flowise's)."""
    return int(client.hget(job, "stc") or client.hget(job, "stalledCounter") or 0)


def test_a_job_cut_from_its_worker_counts_once_as_stalled(client, redis_server) -> None:
    source = BullMQQueue(client, "q")
    asyncio.run(enqueue(redis_server, "q", [{"seconds": 30}]))
    assert source.stalled_since_last_read() is None, "the first read only marks where to start"
    quick = {"connection": redis_server, "lockDuration": 500, "stalledInterval": 500}

    async def run() -> None:
        cut = Worker("q", run_as_told, quick)
        await until(lambda: len(source.jobs_by_worker()) == 1, "running")
        await cut.close(force=True)  # its lock expires: the job is lost with the worker
        checker = Worker("other", finish_at_once, quick)
        try:
            stalled = Worker("q", run_as_told, {**quick, "concurrency": 1})
            try:
                await until(lambda: stalls_of(client, "bull:q:1") == 1, "stalled")
            finally:
                await stalled.close(force=True)
        finally:
            await checker.close(force=True)

    asyncio.run(run())
    assert source.stalled_since_last_read() == 1
    assert source.stalled_since_last_read() == 0, "each stall is counted once"
