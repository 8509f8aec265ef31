"""Click-through-rate models built from feature specs, outputting logits.

Five models (`CTRModelConfig.kind`), composed from small parts in the style
of DeepCTR:

* `lr`: the first-order (linear) term only: logistic regression.
* `fm`: linear + factorization machine (Rendle, 2010).
* `deepfm`: linear + FM + a DNN, all on the same field embeddings
  (Guo et al., 2017).
* `dcnv2`: a cross network of `keras_rs.layers.FeatureCross` layers and a
  DNN on `x0` = the concatenated embeddings and dense inputs, either
  `stacked` (`DNN(Cross(x0))`) or `parallel` (`[Cross(x0), DNN(x0)]`),
  then one `Dense(1)` (Wang et al., 2021).
* `finalmlp`: two MLP streams on `x0`, each behind its own
  `FeatureSelection` gate, fused into the logit by the multi-head bilinear
  `InteractionAggregation` (Mao et al., 2023; layers in
  `xent.models.final_mlp`).

The parts: `FieldEmbedding` (lookup, pooling of multi-valued fields, L2 on
the looked-up rows), `FMInteraction` (the pairwise term), `LogitSum` (sums
the terms and adds the output bias), and the functions `build_dnn` and
`build_cross_network`, which stack built-in Keras and keras-rs layers.

Inputs follow `xent.ctr.specs`: one model input per spec, named after it.
Dense inputs enter the linear term and the DNN / cross network, never the
FM term (FM pairs field embeddings only, as in DeepCTR's DeepFM).

Every model outputs logits `[batch, 1]`, with no sigmoid: train with a
cross-entropy built with `from_logits=True` and add the sigmoid only in the
serving model. The custom layers are registered with Keras under the
`xent` package, so `model.save` / `keras.saving.load_model` round-trip once
this module has been imported.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Literal

import keras
import keras_rs
from keras import layers
from keras import ops

from xent.ctr.specs import DenseFeat
from xent.ctr.specs import FeatureSpec
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat
from xent.ctr.specs import check_specs
from xent.models.batch_norm import WarmupBatchNormalization
from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints
from xent.models.checks import check_rate
from xent.models.final_mlp import FeatureSelection
from xent.models.final_mlp import InteractionAggregation

__all__ = [
    "CTRModelConfig",
    "FMInteraction",
    "FieldEmbedding",
    "FusedEmbedding",
    "LogitSum",
    "build_cross_network",
    "build_ctr_model",
    "build_dnn",
    "fm_interaction",
]

KINDS = ("lr", "fm", "deepfm", "dcnv2", "finalmlp")
DCN_STRUCTURES = ("stacked", "parallel")
L2_MODES = ("rows", "table")
# Small random factors: pairwise terms start near 0 (about 1e-4 per pair), so
# a model given `output_bias` starts close to the base rate.
_EMBEDDING_STDDEV = 1e-2


@dataclasses.dataclass(frozen=True)
class CTRModelConfig:
    """Architecture of a CTR model; checked when it is made.

    Attributes:
        kind: `lr`, `fm`, `deepfm`, `dcnv2` or `finalmlp`; `auto` lets the
            CTR task choose among candidates on the validation split
            (`xent.ctr.selection`), which `build_ctr_model` refuses.
        embedding_dim: Embedding width that the pipeline writes into the
            specs it makes (`dataclasses.replace(spec, embedding_dim=...)`).
            `build_ctr_model` itself reads each spec's `embedding_dim` and
            never this field, so the specs are the one source of truth for
            the model's shapes.
        hidden: Units of the DNN's hidden layers (`deepfm`, `dcnv2`).
        cross_layers: Number of `FeatureCross` layers (`dcnv2`).
        cross_projection_dim: Rank of the low-rank cross kernels `U V`
            (`dcnv2`); `None` for full-rank kernels.
        dcn_structure: `stacked` (the DNN on top of the cross network) or
            `parallel` (both on `x0`, outputs concatenated) (`dcnv2`).
        mlp1_hidden: Units of FinalMLP's first stream (`finalmlp`).
        mlp2_hidden: Units of FinalMLP's second stream (`finalmlp`).
        fs_hidden: Units of the hidden layers of FinalMLP's feature-selection
            gates (`finalmlp`).
        fs1_context: Names of the categorical features whose embeddings
            (own tables) condition the first stream's gate; empty: a learned
            context vector (`finalmlp`).
        fs2_context: The same for the second stream (`finalmlp`).
        num_heads: Heads of FinalMLP's bilinear fusion; must divide the
            last width of both streams (`finalmlp`). The defaults of the
            `finalmlp` fields are FuxiCTR's best Frappe run
            (`FinalMLP_frappe_x1_004`, with `fs1_context=("user",)`,
            `fs2_context=("item",)`, dropout 0.4, batch norm, embedding 10).
        dropout: Dropout rate after each hidden DNN layer, in [0, 1).
        batch_norm: Whether each hidden DNN layer is followed by batch
            normalization (before its ReLU), a `WarmupBatchNormalization`
            whose moving statistics settle within the few hundred steps of
            a short run.
        l2_embedding: L2 coefficient on the embedding rows looked up in a
            batch (factor and first-order embeddings alike), summed over the
            batch and divided by the batch size, added with `add_loss`.
            Rows not used by the batch are not regularized.
        l2_embedding_mode: `rows` (the looked-up rows, as above) or `table`
            (the whole embedding and first-order tables every step: a prior
            that shrinks rarely seen values; see `FieldEmbedding`).
        l2_dense: L2 coefficient on the kernels of the `Dense` and
            `FeatureCross` layers (Keras weight regularizers).
        fused_embeddings: Whether the single-valued categorical fields of
            one embedding width share one table and one gather per step
            (`FusedEmbedding`), instead of one `FieldEmbedding` (one table,
            one gather, one gradient) per field. Same model, same
            numbers; fewer ops per step (`make bench`, ctr).
    """

    kind: Literal["lr", "fm", "deepfm", "dcnv2", "finalmlp", "auto"] = "deepfm"
    embedding_dim: int = 16
    hidden: tuple[int, ...] = (256, 128)
    cross_layers: int = 3
    cross_projection_dim: int | None = None
    dcn_structure: Literal["stacked", "parallel"] = "stacked"
    mlp1_hidden: tuple[int, ...] = (400,)
    mlp2_hidden: tuple[int, ...] = (100,)
    fs_hidden: tuple[int, ...] = (400,)
    fs1_context: tuple[str, ...] = ()
    fs2_context: tuple[str, ...] = ()
    num_heads: int = 5
    dropout: float = 0.0
    batch_norm: bool = False
    l2_embedding: float = 1e-6
    l2_embedding_mode: Literal["rows", "table"] = "rows"
    l2_dense: float = 0.0
    fused_embeddings: bool = True

    def __post_init__(self):
        _check_choice("kind", self.kind, (*KINDS, "auto"))
        check_positive_int("embedding_dim", self.embedding_dim)
        # A list (e.g. from YAML) becomes a tuple, so the config stays hashable.
        if isinstance(self.hidden, (str, bytes)) or not isinstance(
            self.hidden, Sequence
        ):
            raise ValueError(
                "Invalid value for argument `hidden`. Expected a sequence of "
                f"positive integers. Received: hidden={self.hidden!r}"
            )
        object.__setattr__(self, "hidden", tuple(self.hidden))
        check_positive_ints("hidden", self.hidden)
        check_positive_int("cross_layers", self.cross_layers)
        if self.cross_projection_dim is not None:
            check_positive_int("cross_projection_dim", self.cross_projection_dim)
        _check_choice("dcn_structure", self.dcn_structure, DCN_STRUCTURES)
        for arg in ("mlp1_hidden", "mlp2_hidden", "fs_hidden"):
            object.__setattr__(self, arg, _as_tuple(arg, getattr(self, arg)))
            check_positive_ints(arg, getattr(self, arg))
        for arg in ("mlp1_hidden", "mlp2_hidden"):
            if not getattr(self, arg):
                raise ValueError(
                    f"Invalid value for argument `{arg}`. Expected at least one "
                    f"layer. Received: {arg}={getattr(self, arg)!r}"
                )
        for arg in ("fs1_context", "fs2_context"):
            value = _as_tuple(arg, getattr(self, arg))
            if not all(isinstance(name, str) for name in value):
                raise ValueError(
                    f"Invalid value for argument `{arg}`. Expected feature "
                    f"names. Received: {arg}={value!r}"
                )
            object.__setattr__(self, arg, value)
        check_positive_int("num_heads", self.num_heads)
        widths = (self.mlp1_hidden[-1], self.mlp2_hidden[-1])
        if any(width % self.num_heads for width in widths):
            raise ValueError(
                "Invalid value for argument `num_heads`. Expected a divisor of "
                f"the last widths of mlp1_hidden and mlp2_hidden {widths}. "
                f"Received: num_heads={self.num_heads}"
            )
        check_rate("dropout", self.dropout)
        if not isinstance(self.batch_norm, bool):
            raise ValueError(
                "Invalid value for argument `batch_norm`. Expected a bool. "
                f"Received: batch_norm={self.batch_norm!r}"
            )
        _check_non_negative("l2_embedding", self.l2_embedding)
        _check_choice("l2_embedding_mode", self.l2_embedding_mode, L2_MODES)
        _check_non_negative("l2_dense", self.l2_dense)
        if not isinstance(self.fused_embeddings, bool):
            raise ValueError(
                "Invalid value for argument `fused_embeddings`. Expected a bool. "
                f"Received: fused_embeddings={self.fused_embeddings!r}"
            )


# --------------------------------------------------------------------------
# Layers.
# --------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="xent")
class FieldEmbedding(keras.layers.Layer):
    """Embeds one categorical field; pools the values of multi-valued fields.

    With `combiner=None` the input is `[batch]` ids (a `SparseFeat`). With
    `combiner="mean"` or `"sum"` it is `[batch, max_len]` ids (a
    `VarLenSparseFeat`) where id 0 is padding: padded positions are masked
    out of the pooling (a mean divides by the number of real values; a row
    with none pools to zeros) and out of the L2 term.

    With `l2 > 0` and `l2_mode="rows"`, the layer adds
    `l2 * sum(square(rows)) / batch_size` with `add_loss`, over the rows
    looked up by the batch (a row looked up twice counts twice); the rest of
    the table is left alone. Its pull on a value grows with the value's
    frequency, as does the data's, so it shrinks rare and frequent values
    alike. With `l2_mode="table"` it adds `l2 * sum(square(table))` every
    step instead: a Gaussian prior on every row that does not depend on the
    value's frequency, so rarely seen values (whose weights the data barely
    determine) are shrunk towards 0 while frequent ones are left to the data.

    Args:
        vocabulary_size: Number of rows of the table.
        output_dim: Embedding width.
        combiner: `None`, `"mean"` or `"sum"`.
        l2: L2 coefficient, >= 0.
        l2_mode: `rows` (the looked-up rows) or `table` (the whole table).
        embeddings_initializer: Initializer of the table; defaults to a
            normal with standard deviation 0.01.
        **kwargs: Base `Layer` arguments (`name`, `dtype`).

    Call:
        `layer(ids)` returns `[batch, output_dim]`.
    """

    def __init__(
        self,
        vocabulary_size: int,
        output_dim: int,
        combiner: str | None = None,
        l2: float = 0.0,
        embeddings_initializer=None,
        l2_mode: str = "rows",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_choice("l2_mode", l2_mode, L2_MODES)
        self.l2_mode = l2_mode
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("output_dim", output_dim)
        _check_choice("combiner", combiner, (None, "mean", "sum"))
        _check_non_negative("l2", l2)
        self.vocabulary_size = vocabulary_size
        self.output_dim = output_dim
        self.combiner = combiner
        self.l2 = float(l2)
        _gather_then_cast(self)
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(
                stddev=_EMBEDDING_STDDEV
            )
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.vocabulary_size, self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )

    def call(self, ids):
        ids = ops.convert_to_tensor(ids)
        if not keras.backend.standardize_dtype(ids.dtype).startswith("int"):
            ids = ops.cast(ids, "int64")
        rows = ops.take(self.embeddings, ids, axis=0)
        batch = ops.cast(ops.shape(ids)[0], "float32")
        if self.l2 and self.l2_mode == "table":
            self.add_loss(_l2_penalty(self.embeddings, self.l2))
        row_l2 = self.l2 if self.l2_mode == "rows" else 0.0
        if self.combiner is None:
            if row_l2:
                self.add_loss(_l2_penalty(rows, row_l2, batch))
            return ops.cast(rows, self.compute_dtype)
        mask = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), rows.dtype), -1)
        rows = rows * mask
        if row_l2:
            self.add_loss(_l2_penalty(rows, row_l2, batch))
        pooled = ops.sum(rows, axis=1)
        if self.combiner == "mean":
            pooled = pooled / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            combiner=self.combiner,
            **_table_config(self),
        )
        return config


def _gather_then_cast(layer) -> None:
    """Turns off autocasting of an embedding-table layer (as Keras'
    `Embedding` does): its call gathers float32 rows and casts only them to
    the compute dtype. Under `mixed_bfloat16`, an autocast table would be
    cast whole, `[vocabulary, dim]`, at every step: work that grows with the
    vocabulary however few rows a batch looks up."""
    layer.autocast = False


def _table_config(layer) -> dict:
    """The config keys every embedding-table layer has (`FieldEmbedding`,
    `FusedEmbedding`)."""
    return {
        "output_dim": layer.output_dim,
        "l2": layer.l2,
        "l2_mode": layer.l2_mode,
        "embeddings_initializer": keras.initializers.serialize(
            layer.embeddings_initializer
        ),
    }


def _l2_penalty(rows, l2: float, batch=1.0):
    """`l2 * sum(rows^2) / batch` in float32 (a bfloat16 sum of squares over
    a batch loses digits, and Keras adds the losses in float32)."""
    return l2 * ops.sum(ops.square(ops.cast(rows, "float32"))) / batch


@keras.saving.register_keras_serializable(package="xent")
class FusedEmbedding(keras.layers.Layer):
    """Embeds several single-valued fields of one width with one table.

    The fields' tables are stacked into one `[sum(vocabulary_sizes),
    output_dim]` table: field `f`'s ids are shifted by `offset_f =
    sum(vocabulary_sizes[:f])`, so a batch of `[batch]` ids per field is
    looked up with one gather, and its gradient is one sparse update,
    instead of one per field. Row `offset_f + i` is field `f`'s row `i`:
    the model equals one `FieldEmbedding` per field (`combiner=None`) with
    those rows, L2 included (`rows`: the looked-up rows, summed over the
    batch and the fields, over the batch size; `table`: the whole table).

    Args:
        vocabulary_sizes: Rows of each field's table, in input order.
        output_dim: Embedding width of every field.
        l2: L2 coefficient, >= 0.
        l2_mode: `rows` or `table`, as in `FieldEmbedding`.
        embeddings_initializer: Initializer of the table; defaults to a
            normal with standard deviation 0.01.
        **kwargs: Base `Layer` arguments (`name`, `dtype`).

    Call:
        `layer([ids_1, ..., ids_F])`, each `[batch]`, returns
        `[batch, F, output_dim]`.
    """

    def __init__(
        self,
        vocabulary_sizes: Sequence[int],
        output_dim: int,
        l2: float = 0.0,
        l2_mode: str = "rows",
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocabulary_sizes = _as_tuple("vocabulary_sizes", vocabulary_sizes)
        if not vocabulary_sizes:
            raise ValueError(
                "Invalid value for argument `vocabulary_sizes`. Expected at "
                "least one field. Received: vocabulary_sizes=()"
            )
        check_positive_ints("vocabulary_sizes", vocabulary_sizes)
        check_positive_int("output_dim", output_dim)
        _check_non_negative("l2", l2)
        _check_choice("l2_mode", l2_mode, L2_MODES)
        self.vocabulary_sizes = tuple(int(v) for v in vocabulary_sizes)
        self.output_dim = output_dim
        self.l2 = float(l2)
        self.l2_mode = l2_mode
        self.offsets = [0, *itertools.accumulate(self.vocabulary_sizes)][:-1]
        _gather_then_cast(self)
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(
                stddev=_EMBEDDING_STDDEV
            )
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(sum(self.vocabulary_sizes), self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )

    def call(self, ids):
        if not isinstance(ids, (list, tuple)):
            ids = [ids]  # Keras passes a list of one tensor as the tensor.
        ids = [ops.cast(ops.convert_to_tensor(i), "int64") for i in ids]
        if len(ids) != len(self.vocabulary_sizes):
            raise ValueError(
                f"FusedEmbedding {self.name!r} embeds {len(self.vocabulary_sizes)} "
                f"fields; it was called with {len(ids)} id tensors"
            )
        rows_ids = ops.stack(ids, axis=1) + ops.convert_to_tensor(
            self.offsets, dtype="int64"
        )
        rows = ops.take(self.embeddings, rows_ids, axis=0)
        batch = ops.cast(ops.shape(rows_ids)[0], "float32")
        if self.l2 and self.l2_mode == "table":
            self.add_loss(_l2_penalty(self.embeddings, self.l2))
        elif self.l2:
            self.add_loss(_l2_penalty(rows, self.l2, batch))
        return ops.cast(rows, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.vocabulary_sizes), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_sizes=list(self.vocabulary_sizes), **_table_config(self)
        )
        return config


def fm_interaction(embeddings):
    """The factorization-machine pairwise term, `sum_{i<j} <v_i, v_j>`.

    Computed in linear time as `0.5 * sum_k ((sum_i v_ik)^2 - sum_i v_ik^2)`.

    Args:
        embeddings: `[batch, fields, dim]` field embeddings.

    Returns:
        `[batch, 1]`.
    """
    square_of_sum = ops.square(ops.sum(embeddings, axis=1))
    sum_of_squares = ops.sum(ops.square(embeddings), axis=1)
    return 0.5 * ops.sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="xent")
class FMInteraction(keras.layers.Layer):
    """The FM pairwise term of field embeddings.

    A layer without weights around `fm_interaction`. Its input is a list of
    `[batch, dim]` field embeddings and `[batch, fields, dim]` blocks of
    them (`FusedEmbedding`), all of one width; they are stacked into
    `[batch, all fields, dim]`. Returns `[batch, 1]`.
    """

    def call(self, embeddings):
        blocks = [e if len(e.shape) == 3 else ops.expand_dims(e, 1) for e in embeddings]
        stacked = blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=1)
        return fm_interaction(stacked)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)


@keras.saving.register_keras_serializable(package="xent")
class LogitSum(keras.layers.Layer):
    """Sums terms and adds one trainable bias: the output logit `[batch, 1]`.

    Each term is `[batch, 1]`, or `[batch, k, 1]` (e.g. the first-order
    weights of `k` fields from a `FusedEmbedding`), summed over `k`.

    Args:
        bias_initializer: Initializer of the bias, e.g. a `Constant` at the
            logit of the base rate, so that training starts calibrated.
        **kwargs: Base `Layer` arguments.
    """

    def __init__(self, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(1,), initializer=self.bias_initializer, name="bias"
        )

    def call(self, terms):
        terms = [ops.sum(t, axis=1) if len(t.shape) == 3 else t for t in terms]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        config = super().get_config()
        config["bias_initializer"] = keras.initializers.serialize(self.bias_initializer)
        return config


# --------------------------------------------------------------------------
# Functional parts.
# --------------------------------------------------------------------------
def build_dnn(
    x,
    hidden: Sequence[int],
    dropout: float = 0.0,
    batch_norm: bool = False,
    l2: float = 0.0,
    name: str = "dnn",
):
    """Applies `Dense -> [BatchNormalization] -> ReLU -> [Dropout]` per layer.

    Args:
        x: A `[batch, d]` symbolic tensor.
        hidden: Units of each layer; empty returns `x`.
        dropout: Dropout rate after each layer; 0 adds no `Dropout`.
        batch_norm: Whether to normalize each layer's pre-activations with
            `WarmupBatchNormalization` (the `Dense` then has no bias: the
            normalization's offset replaces it).
        l2: L2 coefficient on the kernels.
        name: Prefix of the layer names.

    Returns:
        `[batch, hidden[-1]]` (or `x`).
    """
    for i, units in enumerate(hidden):
        x = layers.Dense(
            units,
            use_bias=not batch_norm,
            kernel_regularizer=_l2(l2),
            name=f"{name}_dense_{i}",
        )(x)
        if batch_norm:
            x = WarmupBatchNormalization(name=f"{name}_bn_{i}")(x)
        x = layers.ReLU(name=f"{name}_relu_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    return x


def build_cross_network(
    x0,
    num_layers: int,
    projection_dim: int | None = None,
    l2: float = 0.0,
    name: str = "cross",
):
    """Stacks `keras_rs.layers.FeatureCross`: `x_{i+1} = x0 * (W x_i + b) + x_i`.

    Args:
        x0: A `[batch, d]` symbolic tensor.
        num_layers: Number of cross layers.
        projection_dim: Rank of the low-rank kernels `W = U V`; `None` for
            full `d x d` kernels.
        l2: L2 coefficient on the kernels.
        name: Prefix of the layer names.

    Returns:
        `[batch, d]`.
    """
    x = x0
    for i in range(num_layers):
        x = keras_rs.layers.FeatureCross(
            projection_dim=projection_dim,
            kernel_regularizer=_l2(l2),
            name=f"{name}_{i}",
        )(x0, x)
    return x


# --------------------------------------------------------------------------
# The builder.
# --------------------------------------------------------------------------
def build_ctr_model(
    specs: Sequence[FeatureSpec],
    config: CTRModelConfig,
    name: str | None = None,
    output_bias: float | None = None,
) -> keras.Model:
    """Builds a CTR model taking one input per spec and returning logits.

    Inputs, by spec type (named after the spec): `SparseFeat` int64
    `[batch]`; `VarLenSparseFeat` int64 `[batch, max_len]`, 0 = padding;
    `DenseFeat` float32 `[batch, dimension]`.

    Each categorical field has a `spec.embedding_dim`-wide factor embedding
    (`embedding_<name>`, shared by the FM term, the DNN and the cross
    network) and, for the linear term, a 1-wide one (`linear_<name>`). Dense
    inputs are concatenated (`dense` layer order = spec order) and enter the
    linear term through `linear_dense` and the DNN / cross network, not the
    FM term.

    * `lr`: `bias + sum_f w_f[id_f] + linear_dense(dense)`.
    * `fm`: `lr` + `FMInteraction(embeddings)`.
    * `deepfm`: `fm` + `dnn_logit(DNN([embeddings, dense]))`.
    * `dcnv2`: `logits(DNN(Cross(x0)))` (stacked) or
      `logits([Cross(x0), DNN(x0)])` (parallel), `x0 = [embeddings, dense]`.
    * `finalmlp`: `InteractionAggregation([MLP1(FS1(x0)), MLP2(FS2(x0))])`,
      each `FSk` a `FeatureSelection` gate conditioned on the embeddings
      (own tables `fsk_context_<name>`) of `config.fsk_context`, or on a
      learned vector when that is empty (Mao et al., 2023).

    Options that a kind does not use (e.g. `hidden` for `fm`) are ignored.
    First-order weights and the kernels of the last projection to the logit
    start at zero, so with `output_bias` the model starts at the base rate
    (up to the small FM term).

    Args:
        specs: Feature specs (`xent.ctr.specs`), at least one.
        config: The architecture.
        name: Model name; defaults to `config.kind`.
        output_bias: Initial output bias, e.g. `log(p / (1 - p))` for the
            training base rate `p`; `None` starts at 0.

    Returns:
        A functional `keras.Model` from a dict of inputs to `[batch, 1]`
        logits.

    Raises:
        ValueError: On invalid specs (see `check_specs`), on `fm`/`deepfm`
            without a categorical feature or with categorical features of
            different `embedding_dim`, on `finalmlp` context names that are
            not categorical features, or on a non-finite `output_bias`.

    >>> from xent.ctr.specs import DenseFeat, SparseFeat
    >>> specs = [SparseFeat("ad", 100, 8), SparseFeat("site", 50, 8),
    ...          DenseFeat("price")]
    >>> model = build_ctr_model(specs, CTRModelConfig(kind="fm"))
    >>> model.output_shape
    (None, 1)
    """
    specs = check_specs(specs)
    if not isinstance(config, CTRModelConfig):
        raise ValueError(
            "Invalid value for argument `config`. Expected a CTRModelConfig. "
            f"Received: config={config!r}"
        )
    if output_bias is not None and not math.isfinite(float(output_bias)):
        raise ValueError(
            "Invalid value for argument `output_bias`. Expected a finite float "
            f"or None. Received: output_bias={output_bias!r}"
        )
    if config.kind not in KINDS:
        raise ValueError(
            f"Invalid value for argument `config.kind`. Expected one of {KINDS} "
            f"(`auto` is resolved by the CTR task). Received: {config.kind!r}"
        )
    categorical = [s for s in specs if not isinstance(s, DenseFeat)]
    if config.kind in ("fm", "deepfm"):
        if not categorical:
            raise ValueError(
                "Invalid value for argument `specs`. Expected at least one "
                f"categorical feature for kind={config.kind!r}. Received only "
                f"dense features: {[s.name for s in specs]}"
            )
        dims = {s.name: s.embedding_dim for s in categorical}
        if len(set(dims.values())) > 1:
            raise ValueError(
                "Invalid value for argument `specs`. The FM term needs one "
                f"embedding_dim for all categorical features. Received: {dims}"
            )
    bias_init = keras.initializers.Constant(float(output_bias or 0.0))

    inputs = {spec.name: _input(spec) for spec in specs}
    dense_specs = [s for s in specs if isinstance(s, DenseFeat)]
    dense = _concat([inputs[s.name] for s in dense_specs], name="dense")

    if config.kind == "finalmlp":
        return _build_final_mlp(
            categorical, inputs, dense, config, bias_init, name=name
        )

    if config.kind == "dcnv2":
        embeddings = _embed(categorical, inputs, config)
        x0 = _concat(embeddings + ([dense] if dense is not None else []), "x0")
        cross = build_cross_network(
            x0,
            config.cross_layers,
            projection_dim=config.cross_projection_dim,
            l2=config.l2_dense,
        )
        dnn_kwargs = {
            "hidden": config.hidden,
            "dropout": config.dropout,
            "batch_norm": config.batch_norm,
            "l2": config.l2_dense,
        }
        if config.dcn_structure == "stacked":
            top = build_dnn(cross, **dnn_kwargs)
        else:
            top = _concat([cross, build_dnn(x0, **dnn_kwargs)], "cross_dnn")
        logits = layers.Dense(
            1,
            kernel_initializer="zeros",
            bias_initializer=bias_init,
            kernel_regularizer=_l2(config.l2_dense),
            name="logits",
        )(top)
        return keras.Model(inputs, logits, name=name or config.kind)

    terms = _linear_terms(categorical, inputs, dense, config)
    if config.kind in ("fm", "deepfm"):
        embeddings = _embed(categorical, inputs, config)
        terms.append(FMInteraction(name="fm")(embeddings))
        if config.kind == "deepfm":
            x = _concat(embeddings + ([dense] if dense is not None else []), "x0")
            x = build_dnn(
                x,
                config.hidden,
                dropout=config.dropout,
                batch_norm=config.batch_norm,
                l2=config.l2_dense,
            )
            terms.append(
                layers.Dense(
                    1,
                    use_bias=False,
                    kernel_initializer="zeros",
                    kernel_regularizer=_l2(config.l2_dense),
                    name="dnn_logit",
                )(x)
            )
    logits = LogitSum(bias_initializer=bias_init, name="logits")(terms)
    return keras.Model(inputs, logits, name=name or config.kind)


def _build_final_mlp(categorical, inputs, dense, config, bias_init, name=None):
    """FinalMLP: two gated MLP streams on `x0` fused by a bilinear layer."""
    by_name = {spec.name: spec for spec in categorical}
    for arg in ("fs1_context", "fs2_context"):
        unknown = [n for n in getattr(config, arg) if n not in by_name]
        if unknown:
            raise ValueError(
                f"Invalid value for argument `{arg}`. Expected names of "
                f"categorical features {sorted(by_name)}. Received: {unknown}"
            )
    embeddings = _embed(categorical, inputs, config)
    x0 = _concat(embeddings + ([dense] if dense is not None else []), "x0")
    # FuxiCTR's learned context is as wide as one field embedding.
    context_dim = categorical[0].embedding_dim if categorical else 16
    streams = []
    for k, hidden in ((1, config.mlp1_hidden), (2, config.mlp2_hidden)):
        context_specs = [by_name[n] for n in getattr(config, f"fs{k}_context")]
        gate_inputs = x0
        if context_specs:
            context = _embed(context_specs, inputs, config, prefix=f"fs{k}_context")
            gate_inputs = [x0, _concat(context, f"fs{k}_context")]
        gated = FeatureSelection(
            config.fs_hidden,
            context_dim=context_dim,
            kernel_regularizer=_l2(config.l2_dense),
            name=f"fs{k}",
        )(gate_inputs)
        streams.append(
            build_dnn(
                gated,
                hidden,
                dropout=config.dropout,
                batch_norm=config.batch_norm,
                l2=config.l2_dense,
                name=f"mlp{k}",
            )
        )
    logits = InteractionAggregation(
        config.num_heads,
        bias_initializer=bias_init,
        kernel_regularizer=_l2(config.l2_dense),
        name="logits",
    )(streams)
    return keras.Model(inputs, logits, name=name or config.kind)


def _input(spec: FeatureSpec):
    if isinstance(spec, SparseFeat):
        return keras.Input(shape=(), dtype="int64", name=spec.name)
    if isinstance(spec, VarLenSparseFeat):
        return keras.Input(shape=(spec.max_len,), dtype="int64", name=spec.name)
    return keras.Input(shape=(spec.dimension,), dtype="float32", name=spec.name)


def _combiner(spec) -> str | None:
    return spec.combiner if isinstance(spec, VarLenSparseFeat) else None


def _embed(
    categorical,
    inputs,
    config: CTRModelConfig,
    prefix: str = "embedding",
    width: int | None = None,
    initializer=None,
) -> list:
    """The embeddings of the categorical fields: `[batch, dim]` per field or,
    with `config.fused_embeddings`, one `[batch, fields, dim]` block per
    width for the single-valued fields (`FusedEmbedding`).

    Args:
        categorical: The categorical specs.
        inputs: The model inputs by name.
        config: The architecture (L2 and whether to fuse).
        prefix: Layer names: `{prefix}_{field}` per field, `{prefix}_fields`
            (or `{prefix}_fields_{dim}` when the fields have several widths)
            per fused block.
        width: Embedding width of every field (1: the first-order weights);
            `None`: each spec's `embedding_dim`.
        initializer: Initializer of the tables; `None`: a normal with
            standard deviation 0.01.
    """
    kwargs = {
        "l2": config.l2_embedding,
        "l2_mode": config.l2_embedding_mode,
        "embeddings_initializer": initializer,
    }

    def dim(spec):
        return spec.embedding_dim if width is None else width

    fused: dict[int, list] = {}
    if config.fused_embeddings:
        for spec in categorical:
            if isinstance(spec, SparseFeat):
                fused.setdefault(dim(spec), []).append(spec)
    blocks = []
    for d, group in fused.items():
        suffix = "" if len(fused) == 1 else f"_{d}"
        blocks.append(
            FusedEmbedding(
                [s.vocabulary_size for s in group],
                d,
                name=f"{prefix}_fields{suffix}",
                **kwargs,
            )([inputs[s.name] for s in group])
        )
    in_blocks = {s.name for group in fused.values() for s in group}
    return blocks + [
        FieldEmbedding(
            spec.vocabulary_size,
            dim(spec),
            combiner=_combiner(spec),
            name=f"{prefix}_{spec.name}",
            **kwargs,
        )(inputs[spec.name])
        for spec in categorical
        if spec.name not in in_blocks
    ]


def _linear_terms(categorical, inputs, dense, config: CTRModelConfig) -> list:
    """The first-order terms, `[batch, 1]` or `[batch, fields, 1]` (summed by
    `LogitSum`, which adds the bias)."""
    terms = _embed(
        categorical, inputs, config, prefix="linear", width=1, initializer="zeros"
    )
    if dense is not None:
        terms.append(
            layers.Dense(
                1,
                use_bias=False,
                kernel_initializer="zeros",
                kernel_regularizer=_l2(config.l2_dense),
                name="linear_dense",
            )(dense)
        )
    return terms


def _concat(tensors: list, name: str):
    """Concatenates along the last axis; one tensor is returned as is. A
    `[batch, fields, dim]` block enters as `[batch, fields * dim]`."""
    if not tensors:
        return None
    tensors = [
        layers.Flatten(name=f"{name}_flat_{i}")(t) if len(t.shape) == 3 else t
        for i, t in enumerate(tensors)
    ]
    if len(tensors) == 1:
        return tensors[0]
    return layers.Concatenate(axis=-1, name=name)(tensors)


def _l2(value: float):
    return keras.regularizers.L2(value) if value else None


def _as_tuple(arg: str, value) -> tuple:
    """A sequence (e.g. a YAML list) as a tuple, so the config stays hashable."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a sequence. "
            f"Received: {arg}={value!r}"
        )
    return tuple(value)


def _check_choice(arg: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected one of "
            f"{list(choices)}. Received: {arg}={value!r}"
        )


def _check_non_negative(arg: str, value) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a finite float >= 0. "
            f"Received: {arg}={value!r}"
        )
