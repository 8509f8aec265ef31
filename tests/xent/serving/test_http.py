"""Strict HTTP/1.1 parsing and timeouts of the REST front end, over raw sockets.

Each request that a lenient parser reads differently from a proxy (request
smuggling) is a 400 with TF Serving's `{"error": ...}` body; clients that
trickle bytes are answered 408 once the header or body deadline passes, and
never keep others out. Every test is bounded in connections and time.
"""

import gzip
import json
import socket
import threading
import time

import pytest

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from tests.xent.serving.conftest import start_server

PREDICT = "/v1/models/ctr:predict"
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
GOOD = json.dumps({"instances": ROWS[:1]}).encode()


@pytest.fixture(scope="module")
def strict(ctr_base):
    server = start_server(
        ctr_base,
        grpc_port=None,
        header_timeout_seconds=HEADER_TIMEOUT,
        body_timeout_seconds=BODY_TIMEOUT,
    )
    yield server
    server.stop(5.0)


def _exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, str]:
    """Sends `raw`, reads until the server closes or answers; (status, text)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    text = answer.decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def _post(headers: str, body: bytes = b"") -> bytes:
    return f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "raw",
    [
        _post(f"Content-Length: +{len(GOOD)}\r\n", GOOD),
        _post("Content-Length: 1_0\r\n", GOOD[:10]),
        _post(f"Content-Length: 0x{len(GOOD):x}\r\n", GOOD),
        _post(f"Content-Length: {len(GOOD)}\r\nContent-Length: {len(GOOD)}\r\n", GOOD),
        _post(
            f"Content-Length: {len(GOOD)}\r\nTransfer-Encoding: chunked\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
        _post("Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"+5\r\nhello\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"5_0\r\nhello\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n"),
        _post(f"Content-Length : {len(GOOD)}\r\n", GOOD),
        _post(f"Content-Length: {len(GOOD)}\r\n folded\r\n", GOOD),
    ],
    ids=[
        "cl-plus",
        "cl-underscore",
        "cl-hex",
        "cl-twice",
        "cl-and-te",
        "chunk-0x",
        "chunk-negative",
        "chunk-plus",
        "chunk-underscore",
        "chunk-no-crlf",
        "space-before-colon",
        "obs-fold",
    ],
)
def test_ambiguous_framing_is_400(strict, raw):
    status, text = _exchange(strict.rest_port, raw)
    assert status == 400, text
    assert json.loads(text.split("\r\n\r\n", 1)[1])["error"]
    assert Rest(strict.rest_port).post(PREDICT, GOOD)[0] == 200


def test_strict_chunked_body_is_read(strict):
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (GOOD[:7], GOOD[7:])
    )
    raw = _post("Transfer-Encoding: chunked\r\n", body + b"0\r\n\r\n")
    status, text = _exchange(strict.rest_port, raw)
    assert status == 200, text


def test_head_answers_like_get_without_a_body(strict):
    status, text = _exchange(
        strict.rest_port,
        b"HEAD /v1/models/ctr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    head, _, body = text.partition("\r\n\r\n")
    assert status == 200 and body == ""
    get = Rest(strict.rest_port).get("/v1/models/ctr")[1]
    length = [h for h in head.split("\r\n") if h.startswith("Content-Length")]
    assert length == [f"Content-Length: {len(json.dumps(get, separators=(',', ':')))}"]


def _trickle(port: int, first: bytes, drip: bytes, results: list) -> None:
    """Sends `first`, then one byte of `drip` every 0.3 s until answered."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(first)
        sock.settimeout(0.3)
        answer = b""
        for byte in drip:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = None
            if chunk == b"" or (chunk and b"\r\n\r\n" in answer + chunk):
                answer += chunk or b""
                break
            if chunk:
                answer += chunk
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            if time.monotonic() - start > 8:
                break
    results.append((time.monotonic() - start, answer.decode("latin-1")))


@pytest.mark.parametrize(
    ("first", "timeout"),
    [
        (b"GET /v1/mo", HEADER_TIMEOUT),
        (_post("Content-Length: 200\r\n", b"{"), BODY_TIMEOUT),
    ],
    ids=["slow-headers", "slow-body"],
)
def test_slow_clients_get_408_and_do_not_block_others(strict, first, timeout):
    results: list = []
    threads = [
        threading.Thread(
            target=_trickle, args=(strict.rest_port, first, b"x" * 40, results)
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    # Meanwhile a well-behaved client is answered at once.
    assert Rest(strict.rest_port, timeout=5).post(PREDICT, GOOD)[0] == 200
    for thread in threads:
        thread.join(15)
    assert len(results) == 8
    for elapsed, answer in results:
        assert answer.startswith("HTTP/1.1 408"), answer
        assert elapsed < timeout + 1.5


# ---------------------------------------------------------------------------
# Body limits (gzip included), the connection limit, many slow clients.
# ---------------------------------------------------------------------------
SMALL_BODY = 64 << 10
MAX_CONNECTIONS = 24


@pytest.fixture(scope="module")
def guarded(ctr_base):
    server = start_server(
        ctr_base,
        grpc_port=None,
        max_body_bytes=SMALL_BODY,
        max_connections=MAX_CONNECTIONS,
        header_timeout_seconds=HEADER_TIMEOUT,
        body_timeout_seconds=BODY_TIMEOUT,
    )
    yield server
    server.stop(5.0)


def _body_of(text: str) -> dict:
    return json.loads(text.split("\r\n\r\n", 1)[1])


def test_gzip_body_is_decompressed(guarded):
    body = gzip.compress(GOOD)
    raw = _post(f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n", body)
    status, text = _exchange(guarded.rest_port, raw)
    assert status == 200, text
    assert len(_body_of(text)["predictions"]) == 1


def test_gzip_bomb_is_413(guarded):
    # 10 MiB of spaces inside valid JSON: about 10 KiB on the wire.
    body = gzip.compress(b'{"instances": [' + b" " * (10 << 20) + b"]}")
    assert len(body) < SMALL_BODY
    raw = _post(f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n", body)
    status, text = _exchange(guarded.rest_port, raw)
    assert status == 413, text
    assert f"limit of {SMALL_BODY} bytes" in _body_of(text)["error"]
    assert Rest(guarded.rest_port).post(PREDICT, GOOD)[0] == 200


def test_chunked_body_over_the_limit_is_413(guarded):
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10))
    raw = _post("Transfer-Encoding: chunked\r\n", body + b"0\r\n\r\n")
    status, text = _exchange(guarded.rest_port, raw)
    assert status == 413, text
    assert "limit of" in _body_of(text)["error"]


def test_malformed_gzip_is_400(guarded):
    body = b"\x1f\x8b\x08\x00 this is not deflate data at all"
    raw = _post(f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n", body)
    status, text = _exchange(guarded.rest_port, raw)
    assert status == 400, text
    assert _body_of(text)["error"]


def test_connections_over_the_limit_get_503_then_slots_free_up(guarded):
    idle = [
        socket.create_connection(("127.0.0.1", guarded.rest_port), 10)
        for _ in range(MAX_CONNECTIONS)
    ]
    try:
        time.sleep(0.2)
        status, text = _exchange(guarded.rest_port, _post("Content-Length: 0\r\n"))
        assert status == 503 and "busy" in _body_of(text)["error"]
        # The silent connections get 408 at the header deadline...
        for sock in idle:
            assert sock.recv(65536).startswith(b"HTTP/1.1 408")
    finally:
        for sock in idle:
            sock.close()
    # ...and the slots serve good clients again.
    assert Rest(guarded.rest_port, timeout=5).post(PREDICT, GOOD)[0] == 200


def test_hundreds_of_slow_bodies_do_not_starve_good_clients(strict):
    slow = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", strict.rest_port), 10)
            sock.sendall(_post("Content-Length: 200\r\n", b'{"instances": ['))
            slow.append(sock)
        start = time.monotonic()
        client = Rest(strict.rest_port, timeout=5)
        for _ in range(5):
            assert client.post(PREDICT, GOOD)[0] == 200
        assert time.monotonic() - start < BODY_TIMEOUT
        answers = [sock.recv(65536) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert time.monotonic() - start < BODY_TIMEOUT + 3.0
