"""The script doctor runs in a main to reach the uploads bucket, run here by sh with a
stand-in curl: the keys reach curl on its standard input, never on a command line (which every
user of the host can read)."""

from __future__ import annotations

import os
import subprocess

from autoscaler.stack.setup_reader import BUCKET_PROBE_SCRIPT

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"


def test_the_keys_reach_curl_on_its_input_not_its_command_line(tmp_path) -> None:
    curl = tmp_path / "curl"
    curl.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\nprintf "\\n200"\n'
    )
    curl.chmod(0o755)
    environment = {
        "PATH": f"{tmp_path}:{os.environ['PATH']}", "S3_STORAGE_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "S3_STORAGE_SECRET_ACCESS_KEY": SECRET, "S3_STORAGE_BUCKET_NAME": "flowise",
        "S3_ENDPOINT_URL": "http://minio:9000/",
    }  # fmt: skip
    ran = subprocess.run(["sh", "-c", BUCKET_PROBE_SCRIPT], env=environment,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert ran.stdout == "\n200"
    argv = (tmp_path / "argv").read_text()
    assert SECRET not in argv and "AKIDEXAMPLE" not in argv
    assert "http://minio:9000/flowise" in argv
    assert (tmp_path / "stdin").read_text() == f'user = "AKIDEXAMPLE:{SECRET}"\n'
