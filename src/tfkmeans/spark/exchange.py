"""Resident tasks exchanging small answers (k x d statistics) through task 0 over TCP."""

from __future__ import annotations

import hmac
import pickle
import socket
import struct

# Seconds a resident task waits for the others at one exchange before it fails.
GATHER_TIMEOUT_S = 1800.0


def send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!Q", len(payload)) + payload)


def receive(sock: socket.socket) -> bytes:
    def exactly(size: int) -> bytes:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = sock.recv_into(view[got:])
            if not n:
                raise ConnectionError("a resident k-means task closed its connection")
            got += n
        return bytes(buffer)

    (size,) = struct.unpack("!Q", exactly(8))
    return exactly(size)


class TaskGroup:
    """The tasks of one barrier stage, exchanging answers through task 0 over TCP.

    Spark's ``BarrierTaskContext.allGather`` waits in steps of one second
    (``Thread.sleep(1000)`` in ``BarrierTaskContext.runBarrier``), far too slow for an
    exchange per Lloyd iteration; it is used once, to publish task 0's port. Peers
    prove they belong to this fit with a random token the driver made.
    """

    def __init__(self, context, token: bytes, timeout: float = GATHER_TIMEOUT_S) -> None:
        infos = context.getTaskInfos()
        self.rank, self.size = context.partitionId(), len(infos)
        self._peers: list[socket.socket] = []
        if self.size == 1:
            return
        host = infos[0].address.rsplit(":", 1)[0]
        server = None
        if self.rank == 0:
            server = socket.create_server(("", 0))
            server.settimeout(timeout)
        port = context.allGather(str(server.getsockname()[1]) if server else "")[0]
        if server is None:
            hub = socket.create_connection((host, int(port)), timeout=timeout)
            send(hub, token + struct.pack("!I", self.rank))
            self._peers = [hub]
            return
        by_rank: dict[int, socket.socket] = {}
        with server:
            while len(by_rank) < self.size - 1:
                conn, _ = server.accept()
                conn.settimeout(timeout)
                hello = receive(conn)
                if not hmac.compare_digest(hello[: len(token)], token):
                    conn.close()  # not one of ours
                    continue
                by_rank[struct.unpack("!I", hello[len(token) :])[0]] = conn
        self._peers = [by_rank[rank] for rank in range(1, self.size)]

    def all_gather(self, value: object) -> list:
        """Every task's value, in task (= partition) order, identical on every task."""
        payloads = [pickle.dumps(value, protocol=5)]
        if self.rank == 0:
            payloads += [receive(peer) for peer in self._peers]
            bundle = pickle.dumps(payloads, protocol=5)
            for peer in self._peers:
                send(peer, bundle)
        elif self._peers:
            send(self._peers[0], payloads[0])
            payloads = pickle.loads(receive(self._peers[0]))
        return [pickle.loads(p) for p in payloads]

    def close(self) -> None:
        for peer in self._peers:
            peer.close()
