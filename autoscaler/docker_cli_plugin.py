"""`docker flowise ...`: compose-flowise as a Docker CLI plugin (the entry point of the launcher
that `install-docker-plugin` writes).

Docker asks the plugin for its metadata (`docker-flowise docker-cli-plugin-metadata`), then runs
`docker flowise scale 3` as `docker-flowise flowise scale 3`: the plugin's own name comes first.
"""

from __future__ import annotations

import json
import sys

from autoscaler.cli import main as compose_flowise
from autoscaler.stack.docker_plugin import METADATA_COMMAND, metadata


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == [METADATA_COMMAND]:
        print(json.dumps(metadata()))
        return 0
    return compose_flowise(arguments[1:])


if __name__ == "__main__":
    sys.exit(main())
