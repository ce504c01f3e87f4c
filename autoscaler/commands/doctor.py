"""`compose-flowise doctor`: what is wrong with the stack, and how to fix it; exit 1 if anything."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.errors import EXIT_FAILED
from autoscaler.stack.doctor import diagnose
from autoscaler.stack.setup_reader import read_setup


def configure(doctor: argparse.ArgumentParser) -> None:
    add_config_option(doctor)
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.set_defaults(run=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    findings = diagnose(read_setup(loaded.settings))
    project = loaded.settings.compose.project_name
    if args.json:
        report = {"project": project, "config": loaded.source, "ok": not findings,
                  "problems": [asdict(finding) for finding in findings]}  # fmt: skip
        print(json.dumps(report, indent=2))
        return EXIT_FAILED if findings else 0
    for finding in findings:
        print(f"{finding.check}: {finding.problem}\n    fix: {finding.fix}")
    if findings:
        print(f"{len(findings)} problem(s) in {project} ({loaded.source})")
        return EXIT_FAILED
    print(f"no problem found in {project} ({loaded.source})")
    return 0
