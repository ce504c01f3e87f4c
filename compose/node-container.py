"""Stops or removes one container through the Docker engine of the node this runs on.

On a Swarm a manager's engine reaches only its own node's containers. compose-flowise runs this
as a one-shot Swarm job placed on other nodes, with their engine's socket mounted: to restart a
deaf main on another node (its container stopped, its stop grace period honoured: Swarm replaces
the task), or for `down`, to remove the Redis and stub_status forwarder of every manager.

    python3 node-container.py stop CONTAINER
    python3 node-container.py remove CONTAINER    (none there: nothing to do)

Python's standard library only: it runs in the stack's Flowise image, which has Python 3.
"""

import http.client
import socket
import sys

ENGINE_SOCKET = "/var/run/docker.sock"
REQUESTS = {
    # the request, and the engine's answers that mean done
    "stop": ("POST", "/containers/{}/stop", (204, 304)),
    "remove": ("DELETE", "/containers/{}?force=true", (204, 404)),
}


class EngineConnection(http.client.HTTPConnection):
    """HTTP to the engine's Unix socket."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(ENGINE_SOCKET)


def ask(action: str, container: str) -> None:
    method, path, done = REQUESTS[action]
    engine = EngineConnection("localhost")
    engine.request(method, path.format(container))
    answer = engine.getresponse()
    detail = answer.read().decode(errors="replace").strip()
    engine.close()
    if answer.status not in done:
        sys.exit(f"node-container: {action} {container}: {answer.status} {detail}")
    print(f"node-container: {action} {container}: done", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in REQUESTS:
        sys.exit(f"usage: node-container.py {'|'.join(REQUESTS)} CONTAINER")
    ask(sys.argv[1], sys.argv[2])
