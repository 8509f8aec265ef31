"""A synthetic click log whose true click probability is known for every row.

It looks like ad data: categorical fields with Zipf-distributed vocabularies
(tens to ~100k values, hashed-looking hex tokens), heavy-tailed numeric fields
with missing values, and a low base CTR. Clicks are drawn from a known
factorization-machine model:

    logit p(x) = b + sum_f w_f[x_f] + sum_{f<g} <e_f[x_f], e_g[x_g]>
                 + sum_j beta_j * z_j(x)

with first-order weights `w`, rank-`interaction_rank` embeddings `e`, and
`z_j` the standardized `log1p` of numeric column j (0 when it is missing).
Weights shrink with a field's cardinality (a value seen rarely carries little
signal, as in real logs). The bias `b` is solved so that the mean of p over
the rows equals `base_ctr`. Because p is known, the Bayes log loss (the mean
binary entropy of p) and a model's excess cross-entropy KL(p || q) can be
computed exactly (`xent.ctr.metrics`).

Generation is deterministic given the config (seed included) and is cached
as an `.npz` file keyed by a hash of the config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["SyntheticClicks", "SyntheticConfig", "cache_dir", "generate", "load"]

_GENERATOR_VERSION = 2  # Bump when the generated data change for a given config.


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """What the synthetic click log looks like.

    Attributes:
        rows: Number of rows.
        vocab_sizes: One categorical field per entry (`c0`, `c1`, ...), with
            that many possible values.
        zipf_exponent: Value frequencies fall as `rank ** -zipf_exponent`.
        numeric: Number of heavy-tailed (log-normal) numeric fields (`n0`, ...).
        missing_rate: Fraction of numeric values (and of the values of the
            last categorical field, as empty strings) that are missing.
        base_ctr: Mean true click probability.
        first_order_scale: Standard deviation of the first-order weights of a
            field with 10 values (smaller for larger fields).
        interaction_rank: Rank of the pairwise interaction embeddings.
        interaction_scale: Standard deviation of a pairwise interaction term
            between two fields with 10 values.
        numeric_scale: Standard deviation of the numeric weights `beta`.
        seed: Seed of the weights and the rows.
    """

    rows: int = 1_000_000
    vocab_sizes: tuple[int, ...] = (12, 40, 300, 3_000, 30_000, 100_000)
    zipf_exponent: float = 1.2
    numeric: int = 3
    missing_rate: float = 0.1
    base_ctr: float = 0.04
    first_order_scale: float = 0.6
    interaction_rank: int = 2
    interaction_scale: float = 0.35
    numeric_scale: float = 0.4
    seed: int = 0

    def __post_init__(self):
        checks = [
            ("rows", self.rows >= 10),
            ("vocab_sizes", len(self.vocab_sizes) >= 1),
            ("vocab_sizes", all(v >= 2 for v in self.vocab_sizes)),
            ("zipf_exponent", self.zipf_exponent > 0),
            ("numeric", self.numeric >= 0),
            ("missing_rate", 0 <= self.missing_rate < 1),
            ("base_ctr", 0 < self.base_ctr < 1),
            ("first_order_scale", self.first_order_scale >= 0),
            ("interaction_rank", self.interaction_rank >= 0),
            ("interaction_scale", self.interaction_scale >= 0),
            ("numeric_scale", self.numeric_scale >= 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ValueError(
                    f"Invalid value for synthetic.{name}: {getattr(self, name)!r}"
                )


@dataclasses.dataclass(frozen=True)
class SyntheticClicks:
    """The generated log.

    Attributes:
        columns: Raw columns by name: categorical fields `c*` as bytes arrays
            (hex tokens, empty = missing), numeric fields `n*` as float32 with
            NaN for missing values.
        labels: Clicks, int8 `[rows]`.
        p_true: True click probabilities, float64 `[rows]`.
        categorical: Names of the categorical columns.
        numeric: Names of the numeric columns.
        config: The config that generated them.
    """

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    p_true: np.ndarray
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    config: SyntheticConfig

    def take(self, index: np.ndarray) -> SyntheticClicks:
        """The rows at `index`."""
        return dataclasses.replace(
            self,
            columns={k: v[index] for k, v in self.columns.items()},
            labels=self.labels[index],
            p_true=self.p_true[index],
        )


def _field_scale(scale: float, vocab: int) -> float:
    # A field with 10 values gets `scale`; one with 100k a tenth of it: a
    # value seen rarely carries little signal, as in real logs.
    return scale * (10.0 / vocab) ** 0.25


def _zipf_probabilities(n: int, exponent: float) -> np.ndarray:
    p = np.arange(1, n + 1, dtype="float64") ** -exponent
    return p / p.sum()


def _tokens(field: int, n: int) -> np.ndarray:
    # Hashed-looking 8-hex-digit tokens, distinct within a field.
    ids = np.arange(n, dtype="uint64") * np.uint64(2654435761) + np.uint64(field)
    ids = ids % np.uint64(2**32)
    return np.array([f"{int(i):08x}" for i in ids], dtype="S8")


def _solve_bias(s: np.ndarray, target: float) -> float:
    """The `b` with mean(sigmoid(b + s)) == target (bisection; monotone in b)."""
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        mean = np.mean(1.0 / (1.0 + np.exp(-(mid + s))))
        if mean < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def generate(config: SyntheticConfig) -> SyntheticClicks:
    """Generates the log (no caching; see `load`)."""
    rng = np.random.default_rng(config.seed)
    n = config.rows
    logit = np.zeros(n, dtype="float64")
    columns: dict[str, np.ndarray] = {}
    categorical, embeddings = [], []
    for f, vocab in enumerate(config.vocab_sizes):
        name = f"c{f}"
        ids = rng.choice(
            vocab, size=n, p=_zipf_probabilities(vocab, config.zipf_exponent)
        )
        w = rng.normal(0.0, _field_scale(config.first_order_scale, vocab), vocab)
        if config.interaction_rank:
            scale = np.sqrt(_field_scale(config.interaction_scale, vocab))
            e = rng.normal(
                0.0,
                scale / config.interaction_rank**0.25,
                (vocab, config.interaction_rank),
            )
            embeddings.append(e[ids])
        tokens = _tokens(f, vocab)[ids]
        if f == len(config.vocab_sizes) - 1 and config.missing_rate:
            missing = rng.random(n) < config.missing_rate
            tokens[missing] = b""
            w_missing = rng.normal(0.0, _field_scale(config.first_order_scale, 10))
            logit += np.where(missing, w_missing, w[ids])
            if embeddings:
                embeddings[-1][missing] = 0.0
        else:
            logit += w[ids]
        columns[name] = tokens
        categorical.append(name)
    for a in range(len(embeddings)):
        for b in range(a + 1, len(embeddings)):
            logit += np.einsum("nk,nk->n", embeddings[a], embeddings[b])
    numeric = []
    for j in range(config.numeric):
        name = f"n{j}"
        x = rng.lognormal(mean=1.0 + j, sigma=1.5, size=n)
        t = np.log1p(x)
        z = (t - t.mean()) / t.std()
        missing = rng.random(n) < config.missing_rate
        beta = rng.normal(0.0, config.numeric_scale)
        logit += np.where(missing, 0.0, beta * z)
        columns[name] = np.where(missing, np.nan, x).astype("float32")
        numeric.append(name)
    logit += _solve_bias(logit, config.base_ctr)
    p = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(n) < p).astype("int8")
    return SyntheticClicks(
        columns=columns,
        labels=labels,
        p_true=p,
        categorical=tuple(categorical),
        numeric=tuple(numeric),
        config=config,
    )


def cache_dir() -> Path:
    """`$XENT_CACHE` or `~/.cache/xent`."""
    return Path(os.environ.get("XENT_CACHE") or Path.home() / ".cache" / "xent")


def _key(config: SyntheticConfig) -> str:
    text = json.dumps(
        {"version": _GENERATOR_VERSION, **dataclasses.asdict(config)}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(config: SyntheticConfig, cache: str | Path | None = None) -> SyntheticClicks:
    """The log for `config`, generated once and then read from the cache.

    Args:
        config: What to generate.
        cache: Cache directory (default `cache_dir()/ctr`); None entries are
            written atomically, so a crash never leaves a partial file.
    """
    folder = Path(cache) if cache is not None else cache_dir() / "ctr"
    path = folder / f"synthetic-{_key(config)}.npz"
    if path.is_file():
        try:
            with np.load(path) as f:
                columns = {
                    k[len("col_") :]: f[k] for k in f.files if k.startswith("col_")
                }
                return SyntheticClicks(
                    columns=columns,
                    labels=f["labels"],
                    p_true=f["p_true"],
                    categorical=tuple(c for c in columns if c.startswith("c")),
                    numeric=tuple(c for c in columns if c.startswith("n")),
                    config=config,
                )
        except (OSError, ValueError, KeyError):
            pass  # A damaged cache entry is regenerated below.
    data = generate(config)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".synthetic-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                labels=data.labels,
                p_true=data.p_true,
                **{f"col_{k}": v for k, v in data.columns.items()},
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data
