"""Forwards TCP ports to services of a Swarm stack's network.

`compose-flowise up` runs it on a manager, in a container attached to the stack's network whose
ports are published on 127.0.0.1 only: there compose-flowise reads Redis and nginx's
stub_status, which Swarm cannot publish on one address. Each connection looks its service up
anew, so a task started again, at another address, is found.

    python3 forward-ports.py 6379=redis:6379 8081=nginx:8081

Python's standard library only: it runs in the stack's Flowise image, which has Python 3.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable

CHUNK_BYTES = 65536


async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Until the reader's end, then the same end to the writer (a half-closed connection)."""
    try:
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


def forwarder(
    host: str, port: int
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def forward(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            server, to_server = await asyncio.open_connection(host, port)
        except OSError as error:
            print(f"forward-ports: {host}:{port}: {error}", file=sys.stderr, flush=True)
            to_client.close()
            return
        try:
            await asyncio.gather(copy(client, to_server), copy(server, to_client))
        finally:
            to_server.close()
            to_client.close()

    return forward


def parsed(spec: str) -> tuple[int, str, int]:
    """LISTEN_PORT=HOST:PORT"""
    listen, _, target = spec.partition("=")
    host, _, port = target.rpartition(":")
    if not (listen.isdigit() and host and port.isdigit()):
        sys.exit(f"forward-ports: {spec!r} is not LISTEN_PORT=HOST:PORT")
    return int(listen), host, int(port)


async def main(specs: list[str]) -> None:
    servers = []
    for listen, host, port in map(parsed, specs):
        servers.append(await asyncio.start_server(forwarder(host, port), port=listen))
        print(f"forward-ports: :{listen} -> {host}:{port}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
