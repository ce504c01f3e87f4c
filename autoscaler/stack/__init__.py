"""The Flowise stack an operator starts with: `init`, `up`, `down`, `doctor` and the Docker CLI
plugin.

`envfile`, `init` (rendering), `doctor` and `readiness` are purely computational; `files`,
`lifecycle`, `inspection` and `docker_plugin` talk to the disk and the Docker engine;
`commands` parses and prints.
"""
