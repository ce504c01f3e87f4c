"""The commands: one module each (parse, call, print), registered here in the order `--help`
lists them. Adding a command is one module with `register(subparsers)` and one line below."""

from autoscaler.commands import (
    completion,
    config,
    daemon,
    docker_plugin,
    doctor,
    down,
    init,
    install_service,
    scale,
    simulate,
    status,
    up,
)

COMMANDS = (
    init,
    up,
    down,
    doctor,
    status,
    scale,
    daemon,
    config,
    install_service,
    docker_plugin,
    simulate,
    completion,
)
