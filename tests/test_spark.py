"""The whole Spark test module (tests/spark_cases.py) on a classic local session, and
the resident exchange without Spark."""

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="pyspark is installed by make test")

from spark_cases import *  # noqa: E402, F403
from spark_cases import start_session  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = start_session(remote=False)
    assert not type(session).__module__.startswith("pyspark.sql.connect")
    yield session
    session.stop()


def test_task_group_gathers_in_task_order_and_turns_strangers_away():
    """The resident exchange without Spark: three threads stand in for barrier tasks."""
    import socket
    import struct
    import threading

    from tfkmeans.spark.exchange import TaskGroup, send

    size, token = 3, b"t" * 16
    published: list[str] = [""] * size
    meeting = threading.Barrier(size)
    stranger_heard: list[bytes] = []
    knocks: list[threading.Thread] = []
    turned_away = threading.Event()

    def knock(port):
        intruder = socket.create_connection(("127.0.0.1", port))
        send(intruder, b"x" * 16 + struct.pack("!I", 1))
        stranger_heard.append(intruder.recv(1))
        turned_away.set()

    class Context:
        def __init__(self, rank):
            self.rank = rank

        def partitionId(self):  # noqa: N802 - BarrierTaskContext names
            return self.rank

        def getTaskInfos(self):  # noqa: N802
            return [type("Info", (), {"address": "127.0.0.1:7077"})()] * size

        def allGather(self, message):  # noqa: N802
            published[self.rank] = message
            meeting.wait()
            if self.rank == 0:  # a stranger finds the port first and knocks with a bad token
                knocks.append(threading.Thread(target=knock, args=(int(published[0]),)))
                knocks[0].start()
            else:
                turned_away.wait(30)
            return list(published)

    results: dict[int, list] = {}

    def task(rank):
        group = TaskGroup(Context(rank), token, timeout=30)
        first = group.all_gather(rank * 10)
        second = group.all_gather(np.full(3, 0.1) * (rank + 1))
        results[rank] = [first, second]
        group.close()

    threads = [threading.Thread(target=task, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads + knocks:
        thread.join(60)
    assert stranger_heard == [b""]  # closed without an answer
    for rank in range(size):
        first, second = results[rank]
        assert first == [0, 10, 20]
        expected = [np.full(3, 0.1) * (r + 1) for r in range(size)]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(second, expected, strict=True))
