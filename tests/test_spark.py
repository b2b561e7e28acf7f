"""The whole Spark test module (tests/spark_cases.py) on a classic local session, the
Databricks example on classic and Connect, and the resident exchange without Spark."""

import os

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


@pytest.mark.parametrize("remote", ["", "local[2]"], ids=["classic", "connect"])
def test_databricks_example_runs_locally(remote):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root / "src"), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("SPARK_REMOTE", None)
    env["PYSPARK_PYTHON"] = sys.executable
    if remote:  # pyspark's builder makes a Spark Connect session when SPARK_REMOTE is set
        env["SPARK_REMOTE"] = remote
        env["SPARK_TESTING"] = "1"  # an ephemeral server port, as in spark_cases
    result = subprocess.run(
        [sys.executable, str(root / "examples" / "databricks_kmeans.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training cost:" in result.stdout
    assert "reloaded centres equal: True" in result.stdout
    assert "Spark ML centres equal: True" in result.stdout
    session_module = result.stdout.split("session: ", 1)[1].split("\n", 1)[0]
    assert ("connect" in session_module) == bool(remote), session_module
    assert "execution mode: resident" in result.stdout
    sizes = result.stdout.split("cluster sizes: ")[1].split(" iterations")[0]
    assert sum(int(v) for v in sizes.strip("[]").split(",")) == 20_000


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
