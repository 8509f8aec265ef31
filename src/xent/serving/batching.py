"""Adaptive batching: concurrent requests to one signature merged into one call.

One `Batcher` per loaded signature owns a queue and one worker thread. The
worker takes the oldest request and adds queued requests of the same
per-example shapes along dimension 0 until the batch holds
`max_batch_size` rows or the first request has waited `batch_timeout_s`;
then it calls the model once and splits the outputs back. With the default
timeout of 0 it merges exactly the requests that queued while the model was
busy with the previous batch: no added wait when the server is idle, larger
batches as the load grows (TF Serving's `max_batch_size` and
`batch_timeout_micros`).

A request larger than `max_batch_size` runs alone. When a merged call fails,
its requests are retried one by one, so that one bad request fails alone.
A request given a timeout that is still queued when it runs out is answered
DEADLINE_EXCEEDED and never runs: a backlog does not turn into work for
clients that have gone.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from xent.serving.errors import ServingError

__all__ = [
    "BatchStats",
    "Batcher",
    "BatchingOptions",
    "merge_inputs",
    "split_outputs",
]

Arrays = Mapping[str, np.ndarray]
_Model = Callable[[Arrays], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """How requests are merged.

    Attributes:
        max_batch_size: Most rows (examples) in one merged call; 1 turns
            batching off. A larger request runs alone.
        batch_timeout_s: Longest time the oldest queued request waits for
            others to join its batch. 0 merges only the requests already
            queued (those that arrived while the model was busy).
        on_batch: Called as `on_batch(model_name, signature_key, rows)`
            after every model call of a batcher (e.g. a batch size metric).
    """

    max_batch_size: int = 64
    batch_timeout_s: float = 0.0
    on_batch: Callable[[str, str, int], None] | None = dataclasses.field(
        default=None, compare=False
    )

    def __post_init__(self):
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(
                "Invalid value for argument max_batch_size. Expected an integer "
                f">= 1. Received: {self.max_batch_size!r}"
            )
        if not self.batch_timeout_s >= 0:
            raise ValueError(
                "Invalid value for argument batch_timeout_s. Expected a number "
                f">= 0. Received: {self.batch_timeout_s!r}"
            )

    @property
    def enabled(self) -> bool:
        """Whether requests are merged at all."""
        return self.max_batch_size > 1


@dataclasses.dataclass(frozen=True)
class BatchStats:
    """What a batcher did so far.

    Attributes:
        calls: Model calls.
        requests: Requests answered.
        rows: Rows (examples) answered.
        largest_batch: Most requests merged into one call.
        requests_per_call: `{requests merged: number of calls}`.
    """

    calls: int
    requests: int
    rows: int
    largest_batch: int
    requests_per_call: dict[int, int]


def merge_inputs(requests: Sequence[Arrays]) -> tuple[dict[str, np.ndarray], list]:
    """Concatenates the requests' inputs along dimension 0.

    Args:
        requests: Inputs of each request, with the same names and the same
            shapes past dimension 0.

    Returns:
        The merged inputs and the rows of each request.

    >>> merged, sizes = merge_inputs([{"x": np.zeros((1, 2))}, {"x": np.ones((3, 2))}])
    >>> merged["x"].shape, sizes
    ((4, 2), [1, 3])
    """
    names = list(requests[0])
    sizes = [len(r[names[0]]) for r in requests]
    merged = {n: np.concatenate([r[n] for r in requests], axis=0) for n in names}
    return merged, sizes


def split_outputs(outputs: Arrays, sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """Splits merged outputs back into one dict per request.

    Args:
        outputs: The model's outputs for the merged batch.
        sizes: Rows of each request, in order.

    Returns:
        One `{name: array}` per request.

    Raises:
        ValueError: When an output's dimension 0 is not the total of `sizes`.
    """
    total = sum(sizes)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or len(value) != total:
            raise ValueError(
                f"Output {name!r} of shape {np.shape(value)} has no batch "
                f"dimension of size {total}"
            )
    bounds = np.cumsum(sizes)[:-1]
    parts = {name: np.split(value, bounds) for name, value in outputs.items()}
    return [{name: parts[name][i] for name in outputs} for i in range(len(sizes))]


Callback = Callable[[dict[str, np.ndarray] | None, BaseException | None], None]


class _Request:
    __slots__ = (
        "callback",
        "deadline",
        "done",
        "error",
        "inputs",
        "key",
        "result",
        "rows",
        "since",
    )

    def __init__(
        self,
        inputs: Arrays,
        rows: int,
        callback: Callback | None = None,
        timeout_s: float | None = None,
    ):
        self.inputs = inputs
        self.rows = rows
        # Requests merge only with requests of the same per-example shapes.
        self.key = tuple(
            sorted(
                (name, value.shape[1:], value.dtype) for name, value in inputs.items()
            )
        )
        self.since = time.monotonic()
        self.deadline = None if timeout_s is None else self.since + timeout_s
        self.done = threading.Event()
        self.result: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None
        self.callback = callback

    def finish(self) -> None:
        """Wakes the waiting caller, or hands the answer to the callback."""
        self.done.set()
        if self.callback is not None:
            self.callback(self.result, self.error)


class Batcher:
    """Merges concurrent calls of `model` (see the module docstring).

    Args:
        model: Takes `{input: array}` with the batch along dimension 0 and
            returns `{output: array}`, batch along dimension 0.
        options: Batch size and timeout.
        name: Names the worker thread (for debugging).
        on_batch: Called with the rows of every model call (from the worker).
    """

    def __init__(
        self,
        model: _Model,
        options: BatchingOptions,
        name: str = "batcher",
        on_batch: Callable[[int], None] | None = None,
    ):
        self._model = model
        self._on_batch = on_batch
        self._options = options
        self._queue: collections.deque[_Request] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._calls = 0
        self._requests = 0
        self._rows = 0
        self._per_call: collections.Counter[int] = collections.Counter()
        self._worker = threading.Thread(
            target=self._loop, name=f"xent-batcher-{name}", daemon=True
        )
        self._worker.start()

    def __call__(
        self, inputs: Arrays, timeout_s: float | None = None
    ) -> dict[str, np.ndarray]:
        """Runs one request (blocking) and returns its outputs.

        Args:
            inputs: `{input: array}`, all with the same size of dimension 0.
            timeout_s: Longest wait for the answer; None for no limit.

        Returns:
            The request's outputs.

        Raises:
            ServingError: DEADLINE_EXCEEDED after `timeout_s`.
        """
        request = self._enqueue(inputs, None, timeout_s)
        if not request.done.wait(timeout_s):
            raise _deadline_error(timeout_s)
        if request.error is not None:
            raise request.error
        return request.result

    def submit(
        self, inputs: Arrays, callback: Callback, timeout_s: float | None = None
    ) -> None:
        """Queues one request without blocking.

        Args:
            inputs: `{input: array}`, all with the same size of dimension 0.
            callback: Called once, from the worker thread, with
                `(outputs, None)` or `(None, error)`.
            timeout_s: A request still queued this long after `submit` is
                answered `(None, ServingError)` (DEADLINE_EXCEEDED) unrun.
        """
        self._enqueue(inputs, callback, timeout_s)

    def _enqueue(
        self, inputs: Arrays, callback: Callback | None, timeout_s: float | None
    ) -> _Request:
        rows = len(next(iter(inputs.values())))
        request = _Request(inputs, rows, callback, timeout_s)
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                self._queue.append(request)
                self._cond.notify()
        if closed:  # Unloaded meanwhile: answer without the worker.
            self._run([request])
        return request

    def stats(self) -> BatchStats:
        """Counts of calls, requests and rows so far."""
        with self._cond:
            return BatchStats(
                calls=self._calls,
                requests=self._requests,
                rows=self._rows,
                largest_batch=max(self._per_call, default=0),
                requests_per_call=dict(sorted(self._per_call.items())),
            )

    def close(self, timeout: float | None = None) -> None:
        """Answers what is queued, then stops the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout)

    # ----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._take()
            now = time.monotonic()
            live = []
            for request in batch:
                if request.deadline is not None and request.deadline < now:
                    request.error = _deadline_error(request.deadline - request.since)
                    request.finish()
                else:
                    live.append(request)
            if live:
                self._run(live)

    def _take(self) -> list[_Request]:
        """Pops the next batch (called with the lock held)."""
        first = self._queue.popleft()
        batch, rows = [first], first.rows
        deadline = first.since + self._options.batch_timeout_s
        limit = self._options.max_batch_size
        while True:
            if self._queue and rows < limit:
                # Take every queued request that fits; others keep their turn.
                kept: collections.deque[_Request] = collections.deque()
                for request in self._queue:
                    if request.key == first.key and rows + request.rows <= limit:
                        batch.append(request)
                        rows += request.rows
                    else:
                        kept.append(request)
                self._queue = kept
            remaining = deadline - time.monotonic()
            if rows >= limit or remaining <= 0 or self._closed:
                return batch
            self._cond.wait(remaining)

    def _run(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            try:
                merged, sizes = merge_inputs([r.inputs for r in batch])
                parts = split_outputs(self._model(merged), sizes)
            except Exception:  # noqa: BLE001 - retried one by one below
                parts = None
            if parts is not None:
                for request, part in zip(batch, parts, strict=True):
                    request.result = part
                self._record(batch)
                for request in batch:
                    request.finish()
                return
        for request in batch:
            try:
                request.result = self._model(request.inputs)
            except BaseException as err:  # noqa: BLE001 - raised in the caller
                request.error = err
            self._record([request])
            request.finish()

    def _record(self, batch: list[_Request]) -> None:
        rows = sum(r.rows for r in batch)
        with self._cond:
            self._calls += 1
            self._requests += len(batch)
            self._rows += rows
            self._per_call[len(batch)] += 1
        if self._on_batch is not None:
            self._on_batch(rows)


def _deadline_error(timeout_s: float | None) -> ServingError:
    return ServingError.deadline_exceeded(
        f"The request waited more than {timeout_s:g} s for the model "
        "(the server's deadline or the client's)"
    )
