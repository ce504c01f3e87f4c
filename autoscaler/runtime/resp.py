"""One Redis GET over a plain socket (RESP2), for `status` from a fresh tick: the Redis client
library takes longer to import (it brings asyncio along) than all the rest of that command.
Plain redis:// URLs only: TLS (rediss://) and its options are the client library's. Talks to
Redis only, and only reads.
"""

from __future__ import annotations

import socket
from typing import BinaryIO
from urllib.parse import unquote, urlsplit


class RespError(Exception):
    """Redis answered with an error (a wrong password, say), or with what RESP2 is not."""


def get(url: str, key: str, timeout_seconds: float) -> bytes | None:
    """The value of `key`, None when it is not set; OSError when Redis does not answer within
    `timeout_seconds` (each of the connect and the reads), RespError when it refuses."""
    parts = urlsplit(url)
    commands = [*_login(parts.username, parts.password, parts.path), [b"GET", key.encode()]]
    address = (parts.hostname or "localhost", parts.port or 6379)
    with socket.create_connection(address, timeout_seconds) as connection:
        connection.sendall(b"".join(_encoded(command) for command in commands))
        with connection.makefile("rb") as replies:
            answers = [_reply(replies) for _ in commands]
    value = answers[-1]
    return value if isinstance(value, bytes) else None


def _login(username: str | None, password: str | None, path: str) -> list[list[bytes]]:
    """AUTH and SELECT, as the URL asks."""
    commands = []
    if password is not None:
        user = [unquote(username).encode()] if username else []
        commands.append([b"AUTH", *user, unquote(password).encode()])
    database = path.strip("/")
    if database not in ("", "0"):
        commands.append([b"SELECT", database.encode()])
    return commands


def _encoded(command: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(command)]
    parts += [b"$%d\r\n%s\r\n" % (len(word), word) for word in command]
    return b"".join(parts)


def _reply(replies: BinaryIO) -> bytes | None:
    """One reply: a simple or bulk string (None for a nil), or RespError."""
    line = replies.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("Redis closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        raise RespError(body.decode(errors="replace"))
    if kind == b"+":
        return body
    if kind == b"$":
        length = int(body)
        return None if length < 0 else replies.read(length + 2)[:-2]
    raise RespError(f"unexpected reply {line[:40]!r}")
