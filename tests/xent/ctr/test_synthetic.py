"""The synthetic click log: deterministic, calibrated to its base CTR, cached."""

import numpy as np
import pytest

from xent.ctr import synthetic

SMALL = synthetic.SyntheticConfig(
    rows=40_000, vocab_sizes=(10, 50, 2_000), numeric=2, base_ctr=0.05, seed=3
)


def test_same_seed_same_log_and_other_seed_another():
    a = synthetic.generate(SMALL)
    b = synthetic.generate(SMALL)
    c = synthetic.generate(synthetic.SyntheticConfig(**{**SMALL.__dict__, "seed": 4}))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.p_true, b.p_true)
    for k in a.columns:
        np.testing.assert_array_equal(a.columns[k], b.columns[k])
    assert not np.array_equal(a.p_true, c.p_true)


def test_mean_true_probability_is_the_base_ctr():
    log = synthetic.generate(SMALL)
    assert log.p_true.mean() == pytest.approx(0.05, abs=1e-9)


def test_clicks_follow_the_true_probabilities():
    log = synthetic.generate(SMALL)
    # In each decile of p the click rate matches the mean p within 4 standard
    # errors of a binomial proportion.
    order = np.argsort(log.p_true)
    for part in np.array_split(order, 10):
        p = log.p_true[part]
        se = np.sqrt(np.sum(p * (1 - p))) / part.size
        assert abs(log.labels[part].mean() - p.mean()) < 4 * se + 1e-12


def test_columns_look_like_ad_data():
    log = synthetic.generate(SMALL)
    assert log.categorical == ("c0", "c1", "c2")
    assert log.numeric == ("n0", "n1")
    for f, vocab in enumerate(SMALL.vocab_sizes):
        values, counts = np.unique(log.columns[f"c{f}"], return_counts=True)
        assert values.dtype.kind == "S"
        assert len(values) <= vocab + 1  # + the empty (missing) token
        # Zipf: the most frequent value has probability 1 / sum_k k^-s.
        top = 1 / np.sum(np.arange(1, vocab + 1) ** -SMALL.zipf_exponent)
        share = counts.max() / SMALL.rows
        if f < 2:
            assert share == pytest.approx(top, rel=0.05)
    assert np.mean(log.columns["c2"] == b"") == pytest.approx(0.1, abs=0.01)
    for name in log.numeric:
        x = log.columns[name]
        assert x.dtype == np.float32
        assert np.mean(np.isnan(x)) == pytest.approx(0.1, abs=0.01)
        finite = x[np.isfinite(x)]
        assert finite.min() > 0
        assert np.max(finite) > 20 * np.median(finite)  # heavy tail


def test_the_features_carry_signal_beyond_the_base_rate():
    log = synthetic.generate(SMALL)
    h = lambda p: -(p * np.log(p) + (1 - p) * np.log1p(-p))  # noqa: E731
    assert h(log.p_true).mean() < 0.95 * h(0.05)


def test_load_caches_and_regenerates_a_damaged_file(tmp_path, monkeypatch):
    first = synthetic.load(SMALL, cache=tmp_path)
    files = list(tmp_path.glob("synthetic-*.npz"))
    assert len(files) == 1

    def fail(config):
        raise AssertionError("generated again")

    monkeypatch.setattr(synthetic, "generate", fail)
    again = synthetic.load(SMALL, cache=tmp_path)
    np.testing.assert_array_equal(first.p_true, again.p_true)
    np.testing.assert_array_equal(first.columns["c2"], again.columns["c2"])
    assert again.categorical == first.categorical
    monkeypatch.undo()
    files[0].write_bytes(b"not an npz file")
    repaired = synthetic.load(SMALL, cache=tmp_path)
    np.testing.assert_array_equal(first.labels, repaired.labels)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path))
    assert synthetic.cache_dir() == tmp_path


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rows", 1),
        ("base_ctr", 0.0),
        ("base_ctr", 1.5),
        ("missing_rate", 1.0),
        ("vocab_sizes", (1,)),
        ("zipf_exponent", 0.0),
    ],
)
def test_invalid_settings_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=f"synthetic.{field}"):
        synthetic.SyntheticConfig(**{field: value})
