"""`xent serve` in a subprocess on loopback: for the benchmark and the tests.

The ports are picked by the system (`--port 0 --grpc-port 0`) and read back
from the server's log lines, which are kept in `lines`.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["ServeProcess"]


class ServeProcess:
    """Starts `xent serve --model-base base --port 0 --grpc-port 0 *args`.

    Args:
        base: The model base path.
        *args: More `xent serve` arguments.
        wait: Whether to return only once the server answers (else call
            `wait_ready`).
        timeout: Seconds to wait for it when `wait`.

    Raises:
        RuntimeError: When `wait` and the server did not start in time.
    """

    def __init__(self, base: Path, *args: str, wait: bool = True, timeout=120.0):
        self.lines: list[str] = []
        self.rest_port = self.grpc_port = 0
        self._new: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xent",
                "serve",
                "--model-base",
                str(base),
                "--port",
                "0",
                "--grpc-port",
                "0",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready(timeout)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Waits for both ports and the "Serving" line."""
        self.rest_port = int(
            self.wait_for(r"REST API listening on http://127\.0\.0\.1:(\d+)", timeout)[
                1
            ]
        )
        self.grpc_port = int(
            self.wait_for(r"gRPC API listening on 127\.0\.0\.1:(\d+)", timeout)[1]
        )
        self.wait_for(r"Serving ", timeout)

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match:
        """Waits for a log line matching `pattern` (also one already read).

        Raises:
            RuntimeError: When none came in `timeout` seconds or the server
                exited; the message holds its log.
        """
        regex = re.compile(pattern)
        for line in list(self.lines):
            if match := regex.search(line):
                return match
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"no {pattern!r} in the log of xent serve:\n{''.join(self.lines)}"
                ) from None
            if line is None:
                self._new.put(None)  # Later waits end at once too.
                raise RuntimeError(
                    f"xent serve exited ({self.proc.wait()}):\n{''.join(self.lines)}"
                )
            if match := regex.search(line):
                return match

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server so far (None without /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        utime, stime = fields.rsplit(")", 1)[1].split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        """SIGTERM (the server drains), SIGKILL after 60 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
