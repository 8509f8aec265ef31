"""Tests of the batcher with a fake model (no TensorFlow), and through the server."""

import threading
import time

import numpy as np
import pytest

from tests.xent.serving.conftest import Rest
from xent.serving.batching import Batcher
from xent.serving.batching import BatchingOptions
from xent.serving.batching import merge_inputs
from xent.serving.batching import split_outputs


class _SlowDouble:
    """Doubles `x`; records the rows of each call; fails on negative input."""

    def __init__(self, seconds: float = 0.02):
        self.seconds = seconds
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, inputs):
        time.sleep(self.seconds)
        with self.lock:
            self.calls.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2, "n": np.full(len(inputs["x"]), len(inputs["x"]))}


def _concurrently(fn, args):
    results = [None] * len(args)

    def work(i):
        try:
            results[i] = fn(args[i])
        except Exception as err:  # noqa: BLE001 - checked by the test
            results[i] = err

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(args))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_requests_are_merged_and_split_back():
    model = _SlowDouble()
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_s=0.2))
    requests = [{"x": np.full((i % 3 + 1, 2), float(i))} for i in range(12)]
    results = _concurrently(batcher, requests)
    batcher.close()
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result["y"], request["x"] * 2)
    stats = batcher.stats()
    assert stats.requests == 12
    assert stats.rows == sum(len(r["x"]) for r in requests) == sum(model.calls)
    assert stats.calls == len(model.calls) < 12
    assert stats.largest_batch > 1


def test_batches_respect_the_maximum_size():
    model = _SlowDouble()
    batcher = Batcher(model, BatchingOptions(max_batch_size=4, batch_timeout_s=0.2))
    _concurrently(batcher, [{"x": np.ones((1, 1))} for _ in range(10)])
    batcher.close()
    assert max(model.calls) <= 4
    assert sum(model.calls) == 10


def test_a_request_larger_than_the_maximum_runs_alone():
    model = _SlowDouble(0)
    batcher = Batcher(model, BatchingOptions(max_batch_size=4))
    result = batcher({"x": np.ones((10, 1))})
    batcher.close()
    assert model.calls == [10]
    assert result["y"].shape == (10, 1)


def test_different_shapes_are_not_merged():
    model = _SlowDouble()
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_s=0.1))
    requests = [{"x": np.ones((1, 1 + i % 2))} for i in range(6)]
    results = _concurrently(batcher, requests)
    batcher.close()
    for request, result in zip(requests, results, strict=True):
        assert result["y"].shape == request["x"].shape


def test_input_order_does_not_prevent_merging():
    model = _SlowDouble()
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_s=0.3))
    x = np.ones((1, 1))
    requests = [{"x": x, "z": x} if i % 2 else {"z": x, "x": x} for i in range(6)]
    _concurrently(batcher, requests)
    batcher.close()
    assert len(model.calls) < 6


def test_a_failing_request_fails_alone():
    model = _SlowDouble()
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_s=0.2))
    requests = [{"x": np.full((1, 1), -1.0 if i == 3 else 1.0)} for i in range(6)]
    results = _concurrently(batcher, requests)
    batcher.close()
    assert isinstance(results[3], ValueError)
    for i, result in enumerate(results):
        if i != 3:
            np.testing.assert_array_equal(result["y"], [[2.0]])


def test_idle_requests_do_not_wait_with_timeout_zero():
    model = _SlowDouble(0)
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_s=0))
    start = time.perf_counter()
    for _ in range(20):
        batcher({"x": np.ones((1, 1))})
    elapsed = time.perf_counter() - start
    batcher.close()
    assert model.calls == [1] * 20
    assert elapsed < 2.0


def test_closed_batcher_still_answers():
    batcher = Batcher(_SlowDouble(0), BatchingOptions())
    batcher.close()
    result = batcher({"x": np.ones((2, 1))})
    np.testing.assert_array_equal(result["y"], 2 * np.ones((2, 1)))


def test_merge_and_split():
    merged, sizes = merge_inputs([{"a": np.zeros((1, 3))}, {"a": np.ones((2, 3))}])
    assert merged["a"].shape == (3, 3) and sizes == [1, 2]
    parts = split_outputs({"b": np.arange(3)}, sizes)
    assert [p["b"].tolist() for p in parts] == [[0], [1, 2]]
    with pytest.raises(ValueError, match="no batch dimension"):
        split_outputs({"b": np.arange(4)}, sizes)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch_size": 0}, {"batch_timeout_s": -1.0}, {"max_batch_size": 2.5}],
)
def test_options_are_checked(kwargs):
    with pytest.raises(ValueError, match="Invalid value for argument"):
        BatchingOptions(**kwargs)


def test_server_merges_concurrent_rest_requests(ctr_base, ctr_reference):
    """16 concurrent REST requests reach the model in fewer, larger calls."""
    from tests.xent.serving.conftest import ROWS
    from tests.xent.serving.conftest import start_server

    server = start_server(
        ctr_base, max_batch_size=64, batch_timeout_ms=300, grpc_port=None
    )
    try:
        row_of = [i % len(ROWS) for i in range(16)]

        def predict(i):
            client = Rest(server.rest_port)
            try:
                return client.post(
                    "/v1/models/ctr:predict", {"instances": [ROWS[row_of[i]]]}
                )
            finally:
                client.close()

        results = _concurrently(predict, list(range(16)))
        stats = server.registry.servable("ctr").batchers[0].stats()
    finally:
        server.stop(5.0)
    for i, (status, body) in enumerate(results):
        assert status == 200
        expected = ctr_reference[2]["probabilities"][row_of[i]]
        np.testing.assert_allclose(body["predictions"][0]["probabilities"], expected)
    assert stats.requests == 16
    assert stats.calls < 16
    assert stats.largest_batch > 1


def test_submit_answers_through_the_callback_and_merges():
    model = _SlowDouble(0.05)
    batcher = Batcher(model, BatchingOptions(max_batch_size=8))
    answers = {}
    done = threading.Event()
    lock = threading.Lock()

    def callback_for(i):
        def callback(result, error):
            with lock:
                answers[i] = (result, error)
                if len(answers) == 5:
                    done.set()

        return callback

    batcher.submit({"x": np.array([1.0])}, callback_for(0))  # Busy model.
    time.sleep(0.01)
    for i in range(1, 4):
        batcher.submit({"x": np.array([float(i + 1)])}, callback_for(i))
    batcher.submit({"x": np.array([-1.0])}, callback_for(4))
    assert done.wait(10)
    batcher.close()
    for i in range(4):
        result, error = answers[i]
        assert error is None
        np.testing.assert_array_equal(result["y"], [2.0 * (i + 1)])
    result, error = answers[4]
    assert result is None and isinstance(error, ValueError)
    # Requests 1-4 queued while request 0 ran: one merged call (which failed
    # because of request 4) retried one by one, so 1 + 1 + 4 calls.
    assert model.calls[0] == 1 and model.calls[1] == 4
