"""Sampled request/response logging as JSON lines (`--request-log`), off by default.

One line per sampled model API call, REST or gRPC:

    {"time": "2024-05-01T12:00:00.123Z", "entrypoint": "REST", "api": "predict",
     "model": "ctr", "version": 2, "status": "OK", "latency_ms": 1.7,
     "request": "{\\"instances\\": ...}", "response": "{\\"predictions\\": ...}"}

`request` and `response` are the bodies as text (gRPC messages in protobuf
text format), cut so that a line never exceeds `max_line_bytes` (with
`"truncated": true`); a call is logged with probability `sample_rate`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import threading
from pathlib import Path

__all__ = ["RequestLog", "RequestRecord"]

_MIN_LINE_BYTES = 512


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One logged call.

    Attributes:
        entrypoint: "REST" or "GRPC".
        api: "predict", "GetModelMetadata" or "GetModelStatus".
        model: The model asked for ("" when none was named).
        version: The version that answered, or None.
        status: The canonical code name of the answer ("OK", ...).
        latency_ms: Its wall time in milliseconds.
        request: The request body as text.
        response: The response body as text.
    """

    entrypoint: str
    api: str
    model: str
    version: int | None
    status: str
    latency_ms: float
    request: str
    response: str


class RequestLog:
    """Appends sampled `RequestRecord`s to `path` as JSON lines.

    Args:
        path: The log file (appended to; created if missing).
        sample_rate: Probability that a call is logged, in [0, 1].
        max_line_bytes: Longest line written (bodies are cut to fit).
        seed: Seeds the sampling (tests); None for a random seed.

    Raises:
        ValueError: For a rate outside [0, 1] or a line limit under 512.
        OSError: When the file cannot be opened.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: float = 1.0,
        max_line_bytes: int = 16 << 10,
        seed: int | None = None,
    ):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(
                "Invalid value for argument sample_rate. Expected a number in "
                f"[0, 1]. Received: {sample_rate!r}"
            )
        if max_line_bytes < _MIN_LINE_BYTES:
            raise ValueError(
                "Invalid value for argument max_line_bytes. Expected an integer "
                f">= {_MIN_LINE_BYTES}. Received: {max_line_bytes!r}"
            )
        self.sample_rate = sample_rate
        self.max_line_bytes = max_line_bytes
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="ascii", buffering=1)  # noqa: SIM115

    def sampled(self) -> bool:
        """Whether the next call is logged (draw once per call, before
        building its record)."""
        with self._lock:
            return self._random.random() < self.sample_rate

    def write(self, record: RequestRecord) -> None:
        """Appends one line for `record`."""
        line = self.format(record)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")

    def format(self, record: RequestRecord) -> str:
        """The JSON line of `record`, at most `max_line_bytes` long."""
        now = datetime.datetime.now(datetime.timezone.utc)
        entry = {
            "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **dataclasses.asdict(record),
        }
        entry["latency_ms"] = round(record.latency_ms, 3)
        line = _dumps(entry)
        if len(line) <= self.max_line_bytes:
            return line
        entry["model"] = record.model[:256]
        entry.update(request="", response="", truncated=True)
        room = self.max_line_bytes - len(_dumps(entry))
        cut = max(0, room // 2)
        while True:
            entry["request"] = record.request[:cut]
            entry["response"] = record.response[:cut]
            line = _dumps(entry)
            if len(line) <= self.max_line_bytes or cut == 0:
                return line
            cut = cut * 3 // 4  # Escapes made the text longer: cut again.

    def close(self) -> None:
        """Closes the file."""
        with self._lock:
            self._file.close()


def _dumps(entry: dict) -> str:
    return json.dumps(entry, ensure_ascii=True, separators=(", ", ": "))
