"""What the REST and gRPC front ends share around a model call.

`run_signature` runs a signature off the event loop (through the batcher's
queue when batching is on, else on a thread pool) under a deadline;
`CallRecorder` counts every model API call in the metrics and writes the
sampled ones to the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from concurrent import futures

import numpy as np

from xent.serving.batching import Batcher
from xent.serving.errors import ServingError
from xent.serving.metrics import ServingMetrics
from xent.serving.request_log import RequestLog
from xent.serving.request_log import RequestRecord

__all__ = ["CallRecorder", "run_signature"]


async def run_signature(
    run: Callable,
    inputs: Mapping[str, np.ndarray],
    timeout_s: float | None,
    executor: futures.Executor,
) -> dict[str, np.ndarray]:
    """Runs `run(inputs)` off the event loop and waits up to `timeout_s`.

    Args:
        run: A `Signature.run`: a `Batcher` (its queue is used) or a plain
            callable (run on `executor`).
        inputs: The decoded inputs.
        timeout_s: Longest wait; None for none. A call still queued in the
            batcher then never runs; a call already running finishes unseen.
        executor: Threads for plain callables.

    Returns:
        The outputs.

    Raises:
        ServingError: DEADLINE_EXCEEDED after `timeout_s`; whatever the
            model raised.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(run, Batcher):
        answer = loop.run_in_executor(executor, run, inputs)
    else:
        answer = loop.create_future()

        def done(result, error):
            def settle():
                if answer.done():  # The call was cancelled meanwhile.
                    return
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(result)

            with contextlib.suppress(RuntimeError):  # The loop is closed.
                loop.call_soon_threadsafe(settle)

        run.submit(inputs, done, timeout_s)
    try:
        return await asyncio.wait_for(answer, timeout_s)
    except asyncio.TimeoutError:  # Not TimeoutError before Python 3.11.
        raise ServingError.deadline_exceeded(
            f"No answer from the model within {timeout_s:g} s (the "
            "server's deadline or the client's)"
        ) from None


@dataclasses.dataclass(frozen=True)
class CallRecorder:
    """Records model API calls in the metrics and the request log.

    Attributes:
        metrics: The server's metrics, or None.
        request_log: The sampled request log, or None (off).
        entrypoint: "REST" or "GRPC".
    """

    metrics: ServingMetrics | None
    request_log: RequestLog | None
    entrypoint: str

    def count_run(self, model: str, run: Callable) -> None:
        """Counts a model call that no batcher merges (batchers count theirs)."""
        if self.metrics is not None and not isinstance(run, Batcher):
            self.metrics.record_graph_run(model)

    def record(
        self,
        api: str,
        model: str,
        version: int | None,
        status: str,
        seconds: float,
        bodies: Callable[[], tuple[str, str]],
    ) -> None:
        """Records one call; `bodies()` gives (request, response) as text and
        is called only for a call the request log samples."""
        if self.metrics is not None and model:
            self.metrics.record_request(model, api, self.entrypoint, status, seconds)
        log = self.request_log
        if log is not None and log.sampled():
            request, response = bodies()
            log.write(
                RequestRecord(
                    self.entrypoint,
                    api,
                    model,
                    version,
                    status,
                    seconds * 1e3,
                    request,
                    response,
                )
            )
