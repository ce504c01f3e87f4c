"""The Flowise stack an operator starts with: `init`, `up`, `down`, `doctor` and the Docker CLI
plugin.

`init` (rendering), `doctor` and `startup` are purely computational (the `.env` format lives in
autoscaler.envfile, which the runtime reads too); `files`, `lifecycle`, `setup_reader`,
`service_unit` and `docker_plugin` talk to the disk and the Docker engine. The commands that
use them are in autoscaler.commands.
"""
