"""The uploads' S3 server in the stack's MinIO slot (the local image: moto's server mode), and
`doctor`'s checks of what the mains need beside the database: the bucket, reached from a main
with the stack's keys (gone, the server down, and that the fix given works), and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowise_stack import running_flowise_stack
from harness import HarnessError

from autoscaler.runtime import wiring

pytestmark = pytest.mark.e2e


def test_doctor_says_when_the_bucket_is_gone_or_unreachable_or_redis_is_down(
    tmp_path: Path,
) -> None:
    try:
        with running_flowise_stack(tmp_path) as stack:
            docker = wiring.docker_client(stack.settings)
            healthy = stack.cli("doctor")
            assert healthy.returncode == 0, healthy.stdout + healthy.stderr

            # moto checks no signature: an unsigned DELETE removes the (empty) bucket
            docker.compose.execute(
                "minio", ["curl", "-fsS", "-X", "DELETE", "http://127.0.0.1:9000/flowise"]
            )
            gone = stack.cli("doctor")
            assert gone.returncode == 1
            assert (
                "bucket_reachable: the uploads bucket flowise at http://minio:9000" in gone.stdout
            )
            assert "does not exist: every upload fails" in gone.stdout
            assert "`compose-flowise up` creates it" in gone.stdout

            up = stack.cli("up")
            assert up.returncode == 0, up.stdout + up.stderr
            fixed = stack.cli("doctor")
            assert fixed.returncode == 0, fixed.stdout

            docker.compose.stop(["minio"])
            down = stack.cli("doctor")
            assert down.returncode == 1
            assert "bucket_reachable: cannot reach the uploads bucket flowise" in down.stdout
            assert "Could not resolve host: minio" in down.stdout
            assert "COMPOSE_PROFILES=minio" in down.stdout
            assert stack.cli("up").returncode == 0
            assert stack.cli("doctor").returncode == 0

            docker.compose.stop(["redis"])
            no_redis = stack.cli("doctor")
            assert no_redis.returncode == 1
            assert "redis_answers: Redis does not answer (ConnectionError" in no_redis.stdout
            assert "Flowise issue #5126" in no_redis.stdout
            status = stack.cli("status")
            assert status.returncode == 1
            assert "DOWN redis" in status.stdout, status.stdout
    except HarnessError as error:
        pytest.fail(str(error))
