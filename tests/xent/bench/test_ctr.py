"""Tests of `xent.bench.ctr`: a quick run (no peer), the goal arithmetic, the
matrix-product floor, and DeepCTR's run where its virtualenv is given."""

import json
import os
import subprocess

import numpy as np
import pytest

from xent.bench import ctr as ctr_bench
from xent.bench.cli import main


@pytest.fixture(scope="module")
def quick_ctr(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-ctr")
    mp = pytest.MonkeyPatch()
    mp.delenv("XENT_DEEPCTR_PYTHON", raising=False)
    assert main(["--out", str(out), "--quick", "--only", "ctr"]) == 0
    mp.undo()
    return out


def test_quick_ctr_run_reports_ours_and_the_input_pipeline(quick_ctr):
    report = json.loads((quick_ctr / "ctr.json").read_text())
    assert report["benchmark"] == "ctr" and report["quick"] is True
    results = report["results"]
    ours = results["ours"]
    rows = results["rows"]
    assert sum(rows.values()) == 6000
    # The quick run's two variants; without a peer the fastest is "ours".
    variants = results["variants"]
    assert sorted(variants) == ["fused_lazy_bf16", "per_field"]
    assert ours["variant"] == max(
        variants, key=lambda v: variants[v]["train_examples_per_second"]
    )
    assert variants["per_field"]["overrides"]["model.fused_embeddings"] is False
    # Each variant trains its own model (not the base config's): different
    # tables and random numbers, so different test predictions.
    assert variants["per_field"]["auc"] != variants["fused_lazy_bf16"]["auc"]
    (epochs,) = ours["epoch_seconds"]  # one repeat of two epochs
    assert len(epochs) == 2
    assert ours["train_examples_per_second"] == pytest.approx(rows["train"] / epochs[1])
    assert ours["input_examples_per_second"] == pytest.approx(
        rows["train"] / ours["input_seconds"][1]
    )
    assert ours["input_first_pass_examples_per_second"] == pytest.approx(
        rows["train"] / ours["input_seconds"][0]
    )
    assert results["input"]["cached"] is True  # 4,800 rows fit in memory.
    # Every variant learned something from the synthetic clicks.
    for variant in variants.values():
        assert 0.6 < variant["auc"] <= 1.0
    assert results["deepctr"] is None  # quick: peer `none`
    goals = report["goals"]
    assert goals["input_over_training"] == pytest.approx(
        ours["input_examples_per_second"] / ours["train_examples_per_second"]
    )
    assert "deepctr_goal_met" not in goals
    readme = (quick_ctr / "README.md").read_text()
    assert "xent input pipeline alone" in readme
    assert "fused tables, lazy Adam" in readme
    assert "DeepCTR DeepFM (peer skipped)" in readme


def test_goals_are_ratios_of_the_measured_rates():
    results = {
        "ours": {
            "train_examples_per_second": 300.0,
            "input_examples_per_second": 1200.0,
            "auc": 0.75,
        },
        "deepctr": {"train_examples_per_second": 100.0, "auc": 0.7515},
        "paired_speed_ratios": [2.5, 3.0, 4.0],
        "mlp_matmul_floor": {"examples_per_second": 400.0},
    }
    goals = ctr_bench.ctr_goals(results)
    assert goals["speed_over_deepctr"] == 3.0  # the median paired ratio
    assert goals["input_over_training"] == 4.0 and not goals["input_goal_met"]
    assert goals["auc_minus_deepctr"] == pytest.approx(-0.0015)
    assert goals["deepctr_goal_met"]  # within the 0.002 AUC tolerance
    assert goals["twice_deepctr_over_matmul_floor"] == 0.5
    results["deepctr"]["auc"] = 0.753
    assert not ctr_bench.ctr_goals(results)["deepctr_goal_met"]


def test_the_chosen_variant_is_the_fastest_within_the_auc_tolerance():
    variants = {
        "a": {"train_examples_per_second": 100.0, "auc": 0.760},
        "b": {"train_examples_per_second": 300.0, "auc": 0.740},  # Too weak.
        "c": {"train_examples_per_second": 200.0, "auc": 0.7485},
    }
    assert ctr_bench.fastest_variant(variants, 0.750) == "c"
    assert ctr_bench.fastest_variant(variants) == "b"
    assert ctr_bench.fastest_variant(variants, 0.9) == "b"  # None is good: fastest.


def test_matmul_floor_is_a_positive_rate():
    floor = ctr_bench.mlp_matmul_floor(64, [10, 16, 1], repeats=3)
    assert floor["step_seconds"] > 0
    assert floor["examples_per_second"] == pytest.approx(64 / floor["step_seconds"])


def test_config_is_checked():
    with pytest.raises(ValueError, match="epochs"):
        ctr_bench.CTRBenchConfig(epochs=1)
    with pytest.raises(ValueError, match="rows"):
        ctr_bench.CTRBenchConfig(rows=10)
    with pytest.raises(ValueError, match="repeats"):
        ctr_bench.CTRBenchConfig(repeats=0)
    with pytest.raises(ValueError, match="variants.*fused"):
        ctr_bench.CTRBenchConfig(variants=("fastest",))
    with pytest.raises(ValueError, match="peer_precisions"):
        ctr_bench.CTRBenchConfig(peer_precisions=("float16",))
    assert ctr_bench.peer_python("none") is None
    with pytest.raises(RuntimeError, match="does not exist"):
        ctr_bench.peer_python("/nonexistent/python")


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("XENT_DEEPCTR_PYTHON"),
    reason="set XENT_DEEPCTR_PYTHON to a Python with deepctr 0.9.4 and tf-keras",
)
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_deepctr_peer_trains_on_the_prepared_arrays(tmp_path, precision):
    rng = np.random.default_rng(0)
    n = 4000
    user = rng.integers(0, 50, n)
    y = (rng.random(n) < np.where(user % 2 == 0, 0.8, 0.1)).astype("int64")
    settings = {
        "embedding_dim": 4,
        "hidden": [8],
        "batch_size": 256,
        "epochs": 3,
        "learning_rate": 0.01,
        "l2_embedding": 1e-5,
        "seed": 0,
        "sparse": {"user": 50},
        "dense": {"numeric": 2},
    }
    numeric = rng.normal(size=(n, 2)).astype("float32")
    np.savez(
        tmp_path / "in.npz",
        settings=np.asarray(json.dumps(settings)),
        train__user=user,
        train__numeric=numeric,
        train__y=y,
        test__user=user[:500],
        test__numeric=numeric[:500],
    )
    script = ctr_bench.__file__.replace("ctr.py", "deepctr_peer.py")
    proc = subprocess.run(
        [
            os.environ["XENT_DEEPCTR_PYTHON"],
            script,
            str(tmp_path / "in.npz"),
            str(tmp_path / "out.npz"),
            precision,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": ""},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    assert len(out["epoch_seconds"]) == 3
    prob = out["prob"]
    # Even users click 80% of the time, odd ones 10%: DeepCTR learns it.
    even = user[:500] % 2 == 0
    assert prob[even].mean() > 0.6 and prob[~even].mean() < 0.3
