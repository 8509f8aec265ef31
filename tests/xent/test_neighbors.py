"""`xent.neighbors`: the nearest-neighbour head, against scikit-learn's
`KNeighborsClassifier` and float64 NumPy references."""

import keras
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from xent import neighbors as nb


def _rows(seed=0, n=200, d=4, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, classes, n)
    # Every row twice, label included: exact copies at distance 0 (a tie at
    # the k-th neighbour then picks one of two equal rows).
    x[n // 2 :], y[n // 2 :] = x[: n - n // 2], y[: n - n // 2]
    return x.astype("float32"), y


@pytest.mark.parametrize("k", [1, 5, 30])
def test_neighbor_probabilities_match_scikit_learn(k):
    x, y = _rows()
    q = np.concatenate([x[:20], np.random.default_rng(1).normal(size=(30, 4))])
    q = q.astype("float32")
    ref = KNeighborsClassifier(
        n_neighbors=k, algorithm="brute", weights=lambda d: 1.0 / (d + nb.EPS)
    ).fit(x.astype("float64"), y)
    got = np.asarray(nb.neighbor_probabilities(q, x, y, 3, k))
    np.testing.assert_allclose(got, ref.predict_proba(q.astype("float64")), atol=1e-9)


def test_an_exact_copy_is_at_distance_zero_despite_large_values():
    # |x|^2 - 2 x.c + |c|^2 in float32 would leave ~1e-2 of round-off here.
    x = np.array([[1000.0, -2000.0, 3000.5], [1000.0, -2000.0, 3001.5]], "float32")
    d, i = nb.nearest(x[:1], x, 2)
    assert float(np.asarray(d)[0, 0]) < 1e-6 and np.asarray(i)[0].tolist() == [0, 1]


@pytest.mark.parametrize("binary", [False, True])
def test_blend_logits_give_the_mixture_of_probabilities(binary):
    rng = np.random.default_rng(0)
    k = 2 if binary else 4
    z = rng.normal(scale=5, size=(50, 1 if binary else k))
    z[0] = 60.0  # saturated
    q = rng.dirichlet(np.ones(k), size=50)
    q[1] = np.eye(k)[0]  # a neighbour frequency of exactly 0
    for w in (0.1, 0.5, 1.0):
        out = np.asarray(nb.blend_logits(z, q, w, binary))
        assert np.all(np.isfinite(out))
        if binary:
            net = 1 / (1 + np.exp(-z[:, 0]))
            got = 1 / (1 + np.exp(-out[:, 0]))
            want = w * net + (1 - w) * q[:, 1]
        else:
            e = np.exp(z - z.max(1, keepdims=True))
            net = e / e.sum(1, keepdims=True)
            got = np.exp(out)
            want = w * net + (1 - w) * q
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("weight", [0.0, -0.1, 1.5])
def test_blend_logits_reject_a_share_outside_0_1(weight):
    with pytest.raises(ValueError, match="weight"):
        nb.blend_logits(np.zeros((1, 2)), np.full((1, 2), 0.5), weight, False)


def test_fit_keeps_the_head_where_repeated_rows_carry_the_label():
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(40, 3))
    labels = rng.integers(0, 3, 40)  # no smooth function of the features

    def draw(n):
        i = rng.integers(0, 40, n)
        y = np.where(rng.uniform(size=n) < 0.9, labels[i], rng.integers(0, 3, n))
        return prototypes[i], y

    (xt, yt), (xv, yv) = draw(400), draw(200)
    flat = np.zeros((200, 3))  # a network that learned only the prior
    fit = nb.fit_neighbor_blend(xt, yt, xv, flat, yv, binary=False, n_classes=3)
    assert fit["weight"] < 0.5
    assert fit["val_cross_entropy"] < fit["val_cross_entropy_network"] - 0.5
    assert fit["val_cross_entropy_network"] == pytest.approx(np.log(3))
    best = min(fit["candidates"], key=lambda c: c["val_cross_entropy"])
    assert (best["k"], best["weight"]) == (fit["k"], fit["weight"])


def test_fit_drops_the_head_where_the_network_is_right():
    rng = np.random.default_rng(1)
    xt, xv = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    yt = rng.integers(0, 2, 300)
    yv = (xv[:, 0] > 0).astype(int)
    good = 8.0 * xv[:, :1]  # confident and right; the neighbours are noise
    fit = nb.fit_neighbor_blend(xt, yt, xv, good, yv, binary=True, n_classes=2)
    assert fit["weight"] == 1.0
    assert fit["val_cross_entropy"] == fit["val_cross_entropy_network"]


def test_fit_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same width"):
        nb.fit_neighbor_blend(
            np.zeros((5, 2)),
            np.zeros(5),
            np.zeros((3, 3)),
            np.zeros((3, 1)),
            np.zeros(3),
            True,
            2,
        )
    with pytest.raises(ValueError, match="Rows and labels differ"):
        nb.fit_neighbor_blend(
            np.zeros((5, 2)),
            np.zeros(4),
            np.zeros((3, 2)),
            np.zeros((3, 1)),
            np.zeros(3),
            True,
            2,
        )


def test_layer_scores_any_batch_size_like_the_functions_and_round_trips(tmp_path):
    x, y = _rows(n=300, d=5)
    layer = nb.NeighborBlend.from_rows(x, y, 3, k=7, weight=0.4, binary=False)
    features, logits = keras.Input((5,)), keras.Input((3,))
    model = keras.Model([features, logits], layer([features, logits]))
    rng = np.random.default_rng(2)
    # More rows than one chunk, and not a multiple of it.
    q = rng.normal(size=(nb.QUERY_BATCH * 2 + 75, 5)).astype("float32")
    z = rng.normal(size=(len(q), 3)).astype("float32")
    want = np.asarray(
        nb.blend_logits(z, nb.neighbor_probabilities(q, x, y, 3, 7), 0.4, False)
    )
    got = model.predict([q, z], batch_size=len(q), verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict([q, z], verbose=0), got, atol=1e-6)


def test_layer_rejects_more_neighbours_than_rows():
    with pytest.raises(ValueError, match="k"):
        nb.NeighborBlend(rows=3, features=2, n_classes=2, k=4, weight=0.5, binary=True)


def test_fit_drops_a_gain_within_the_noise_of_a_small_validation_split():
    rng = np.random.default_rng(9)  # a seed where a blend wins by luck
    xt, xv = rng.normal(size=(200, 2)), rng.normal(size=(40, 2))
    yt = rng.integers(0, 2, 200)
    z = rng.normal(size=(40, 1))
    # Labels drawn from the network's own probabilities: it is calibrated,
    # and any gain of the (random) neighbours is luck.
    yv = (rng.uniform(size=40) < 1 / (1 + np.exp(-z[:, 0]))).astype(int)
    lucky = nb.fit_neighbor_blend(xt, yt, xv, z, yv, True, 2, min_z=0.0)
    assert lucky["weight"] < 1.0 and lucky["improvement"] > 0
    fit = nb.fit_neighbor_blend(xt, yt, xv, z, yv, True, 2)
    assert fit["weight"] == 1.0
    assert fit["improvement"] <= 2.0 * fit["standard_error"]
