"""The stand-in main's queue mode, as Flowise does it: a prediction becomes a BullMQ job on
`${QUEUE_NAME}-prediction` (prefix `bull`, job named by a uuid, no jobId, removeOnFail and the
REMOVE_ON_* limits), and the HTTP request stays open until a worker has finished the job."""

import asyncio
import json
import os
import threading
import uuid

from bullmq import Queue

_POLL_SECONDS = 0.02


class PredictionQueue:
    """BullMQ from the HTTP server's threads: one asyncio loop in a thread of its own."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self._queue = self._run(self._open(redis_url, f"{queue_name}-prediction"))
        self._options = {"removeOnFail": True, "removeOnComplete": _remove_on_complete()}

    def predict(self, data: dict) -> tuple[bool, dict]:
        """(True, the worker's result) or (False, the failure): blocks until the job ends."""
        return self._run(self._predict(data))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @staticmethod
    async def _open(redis_url: str, name: str) -> Queue:
        return Queue(name, {"connection": redis_url, "prefix": "bull"})

    async def _predict(self, data: dict) -> tuple[bool, dict]:
        job = await self._queue.add(str(uuid.uuid4()), data, self._options)
        key = self._queue.toKey(job.id)
        client = self._queue.client
        while True:
            finished, result, reason = await client.hmget(
                key, "finishedOn", "returnvalue", "failedReason"
            )
            if finished and reason is None:
                return True, json.loads(result) if result else {}
            if finished or not await client.exists(key):  # failed jobs are removed at once
                return False, {"error": reason or "the job failed"}
            await asyncio.sleep(_POLL_SECONDS)


def _remove_on_complete() -> dict:
    keep = {}
    if os.environ.get("REMOVE_ON_AGE"):
        keep["age"] = int(os.environ["REMOVE_ON_AGE"])
    if os.environ.get("REMOVE_ON_COUNT"):
        keep["count"] = int(os.environ["REMOVE_ON_COUNT"])
    return keep
