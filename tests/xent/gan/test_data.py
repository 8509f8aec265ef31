"""Tests of `xent.gan.data`: the real images and their training batches."""

import numpy as np
import pytest

from xent.config import ConfigError
from xent.gan.config import GANDataConfig
from xent.gan.data import check_source
from xent.gan.data import load_images
from xent.gan.data import training_dataset
from xent.stages import ArraySplit


def test_unknown_sources_are_rejected_naming_the_key():
    check_source("digits")
    check_source("tfds:mnist")
    with pytest.raises(ConfigError, match="data.source"):
        check_source("breast_cancer")


def test_digits_are_split_and_scaled_to_the_unit_range():
    data = load_images(GANDataConfig(), seed=0)
    assert data.splits.test.rows == 360
    x = data.splits.train.x
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert data.metadata["image_shape"] == [8, 8, 1]
    assert data.state is None and len(data.class_names) == 10


def test_training_batches_are_in_the_tanh_range_and_drop_the_remainder():
    x = np.linspace(0, 1, 10 * 4).reshape(10, 2, 2, 1).astype("float32")
    split = ArraySplit(x, np.arange(10) % 2)
    batches = list(training_dataset(split, conditional=False, batch_size=4, seed=0))
    assert [len(b) for b in batches] == [4, 4]
    assert min(float(b.numpy().min()) for b in batches) >= -1.0
    images, labels = next(iter(training_dataset(split, True, 4, 0)))
    assert images.shape == (4, 2, 2, 1) and labels.shape == (4,)
    small = list(training_dataset(ArraySplit(x[:3], np.zeros(3)), False, 4, 0))
    assert [len(b) for b in small] == [3]
