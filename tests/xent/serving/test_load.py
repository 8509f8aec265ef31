"""Mixed load on `xent serve` (slow): good clients keep being answered, with no
5xx, while about 200 slow clients hold half-sent bodies, bad clients send
malformed requests, and a new version is hot-loaded. Prints p50 / p99."""

import collections
import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from xent.bench.serve_process import ServeProcess

PREDICT = "/v1/models/ctr:predict"
GOOD_CLIENTS = 6
REQUESTS = 300
SLOW = 500
SLOW_HEAD = (
    f'POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{{"instances": ['
).encode()
BAD = [b"{nope", json.dumps({"instances": [{"agee": [1.0]}]}).encode()]


def _hold_slow_connections(port: int, stop: threading.Event, counts: dict) -> None:
    """Keeps about SLOW connections with half a body open, reopening those the
    server closes (408 at the body deadline)."""
    open_ = []
    while not stop.is_set():
        while len(open_) < SLOW and not stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", port), 5)
                sock.sendall(SLOW_HEAD)
                sock.setblocking(False)
                open_.append(sock)
            except OSError:
                counts["refused"] += 1
                break
        time.sleep(0.2)
        for sock in list(open_):
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            counts[data[:12].decode("latin-1") or "closed"] += 1
            sock.close()
            open_.remove(sock)
    for sock in open_:
        sock.close()


@pytest.mark.slow
def test_good_clients_survive_slow_and_bad_clients_and_a_reload(
    ctr_base, ctr_reference, tmp_path, capsys
):
    base = tmp_path / "models"
    shutil.copytree(ctr_base / "ctr" / "1", base / "ctr" / "1")
    process = ServeProcess(
        base,
        "--poll-seconds",
        "0.2",
        "--header-timeout-seconds",
        "2",
        "--body-timeout-seconds",
        "2",
        # Room for every slow connection: good clients must never depend on
        # a slot freeing up (the 503 beyond the limit is test_http's).
        "--max-connections",
        "1024",
    )
    stop = threading.Event()
    slow_counts: collections.Counter = collections.Counter()
    holder = threading.Thread(
        target=_hold_slow_connections, args=(process.rest_port, stop, slow_counts)
    )
    holder.start()
    time.sleep(1.0)
    body = json.dumps({"instances": ROWS}).encode()
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    reloaded_event = threading.Event()

    def good(k):
        rest, mine, seen = (
            Rest(process.rest_port, timeout=30),
            [],
            collections.Counter(),
        )
        i = 0
        # At least REQUESTS each, and on until version 2 has been serving
        # for a moment: the reload happens under this traffic.
        while i < REQUESTS or not reloaded_event.is_set():
            i += 1
            if k == 0 and i % 10 == 0:
                seen[("bad", rest.post(PREDICT, BAD[i % 2])[0])] += 1
                continue
            start = time.perf_counter()
            status, answer = rest.post(PREDICT, body)
            mine.append(time.perf_counter() - start)
            seen[("good", status)] += 1
        rest.close()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    try:
        threads = [
            threading.Thread(target=good, args=(k,)) for k in range(GOOD_CLIENTS)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        shutil.copytree(ctr_base / "ctr" / "2", base / "ctr" / ".tmp-2")
        os.rename(base / "ctr" / ".tmp-2", base / "ctr" / "2")
        copied = time.perf_counter()
        # Version 2 answers once it has loaded and warmed up.
        client = Rest(process.rest_port)
        while time.perf_counter() < copied + 120:
            states = client.get("/v1/models/ctr")[1]["model_version_status"]
            if any((v["version"], v["state"]) == ("2", "AVAILABLE") for v in states):
                break
            time.sleep(0.1)
        reload_s = time.perf_counter() - copied
        time.sleep(0.5)
        reloaded_event.set()
        for thread in threads:
            thread.join(300)
        elapsed = time.perf_counter() - start
        reloaded = client.post(PREDICT, body)[1]
    finally:
        stop.set()
        holder.join(30)
        assert process.stop() == 0
    good_total = sum(v for (kind, _), v in statuses.items() if kind == "good")
    assert statuses[("good", 200)] == good_total, statuses
    assert all(400 <= s < 500 for (kind, s) in statuses if kind == "bad"), statuses
    np.testing.assert_allclose(
        [p["probabilities"] for p in reloaded["predictions"]],
        ctr_reference[2]["probabilities"],
        rtol=1e-6,
    )
    assert slow_counts["HTTP/1.1 408"] > 0, slow_counts
    p50, p99 = np.percentile(np.asarray(latencies) * 1e3, [50, 99])
    with capsys.disabled():
        print(
            f"\nMixed load: {GOOD_CLIENTS} clients, {len(latencies)} good "
            f"requests in {elapsed:.1f} s beside ~{SLOW} slow connections "
            f"({dict(slow_counts)}) and a hot reload (version 2 available "
            f"{reload_s:.1f} s after it appeared): good requests p50 "
            f"{p50:.2f} ms, p99 {p99:.2f} ms, all 200, no 5xx"
        )
