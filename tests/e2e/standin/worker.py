"""Stand-in for a Flowise worker (`flowise worker`): consumes `${QUEUE_NAME}-prediction` with
WORKER_CONCURRENCY jobs at once, and logs its BullMQ worker id as Flowise does. A job's question
is a number of milliseconds to sleep, as in the LLM-free sleep flow; `fail` fails the job. Opens
no port, like Flowise 3.1.4's worker.

On SIGTERM it stops taking jobs, finishes the running ones for up to 30 s, then exits.
"""

import asyncio
import os
import signal
import socket
import sys
from datetime import datetime

import flow
from bullmq import Worker

HOSTNAME = socket.gethostname()
FINISH_SECONDS = 30


async def run_job(job, _token):
    question = str(job.data.get("question", ""))
    await asyncio.sleep(flow.sleep_seconds(question))  # FlowFailed fails the job
    return {**flow.answer(question), "worker": HOSTNAME}


async def main() -> None:
    queue = f"{os.environ.get('QUEUE_NAME') or 'flowise-queue'}-prediction"
    concurrency = int(os.environ.get("WORKER_CONCURRENCY") or 100000)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    worker = Worker(
        queue, run_job, {"connection": os.environ["REDIS_URL"], "concurrency": concurrency}
    )
    print(f"worker {HOSTNAME}: {queue}, concurrency {concurrency}", file=sys.stderr, flush=True)
    # As Flowise's `flowise worker` logs it: the worker's BullMQ id, which its job locks hold.
    print(f"{datetime.now():%Y-%m-%d %H:%M:%S} [INFO]: Prediction Worker {worker.id} created",
          flush=True)  # fmt: skip
    await stop.wait()
    try:
        await asyncio.wait_for(worker.close(), FINISH_SECONDS)
    except TimeoutError:
        print(f"worker {HOSTNAME}: jobs still running after {FINISH_SECONDS}s", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
