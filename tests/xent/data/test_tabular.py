"""Tests of `xent.data.tabular`, `csv_table`, `labels`: reading, labels, splits."""

import dataclasses
import json
import re

import numpy as np
import pytest

from xent.bad_rows import BadRows
from xent.bad_rows import ReadError
from xent.data import columns
from xent.data import csv_table
from xent.data import labels as labels_lib
from xent.data import tabular
from xent.data.columns import MISSING_VALUES
from xent.data.tabular import Schema
from xent.data.tabular import Split


def _write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def _table(rows, header="x,y"):
    return header + "\n" + "\n".join(rows) + "\n"


def _balanced_csv(tmp_path, counts=(120, 50, 30), name="data.csv"):
    """`id,num,color,y` with class `c<k>` repeated `counts[k]` times."""
    rng = np.random.default_rng(0)
    rows = []
    for k, n in enumerate(counts):
        for _ in range(n):
            rows.append(
                f"{len(rows)},{rng.normal():.4f},{rng.choice(['red', 'blue'])},c{k}"
            )
    return _write(tmp_path, _table(rows, "id,num,color,y"), name)


def test_inference_of_numeric_and_categorical_columns(tmp_path):
    path = _write(
        tmp_path,
        "age, height ,color,code,flag,label\n"
        "30,1.5,red,01,true,a\n"
        " 41 ,-2e3, blue ,2,false,b\n"
        "\n"  # Blank lines are skipped.
        "52,inf,red,3,true,a\n",
    )
    table = csv_table.read_csv(path, "label")
    assert table.numeric == ("age", "height", "code")
    assert table.categorical == ("color", "flag")
    np.testing.assert_array_equal(table.features["age"], [30, 41, 52])
    assert table.features["age"].dtype == np.float32
    np.testing.assert_array_equal(table.features["height"], [1.5, -2000, np.inf])
    assert table.features["color"].dtype == object
    assert table.features["color"].tolist() == ["red", "blue", "red"]
    assert table.labels.tolist() == ["a", "b", "a"]
    assert table.lines.tolist() == [2, 3, 5]


def test_overrides_force_column_types(tmp_path):
    path = _write(tmp_path, _table(["01,1.5,0", "2,2.5,1", "3,,1"], "code,v,y"))
    table = csv_table.read_csv(path, "y", categorical=["code"], numeric=["v"])
    assert table.categorical == ("code",)
    assert table.numeric == ("v",)
    assert table.features["code"].tolist() == ["01", "2", "3"]  # Raw spelling.
    assert np.isnan(table.features["v"][2])


@pytest.mark.parametrize("token", MISSING_VALUES)
def test_every_missing_value_spelling(tmp_path, token):
    rows = [f"1.5,red,{' ' + token + ' ' if token else ''},0", "2.5,blue,x,1"]
    rows.append(f"{token},{token},y,1")
    table = csv_table.read_csv(_write(tmp_path, _table(rows, "n,c,d,y")), "y")
    assert table.numeric == ("n",)
    assert table.categorical == ("c", "d")
    np.testing.assert_array_equal(table.features["n"], [1.5, 2.5, np.nan])
    assert table.features["c"].tolist() == ["red", "blue", ""]
    assert table.features["d"].tolist() == ["", "x", "y"]


def test_custom_missing_values(tmp_path):
    path = _write(tmp_path, _table(["-999,0", "2,1", "NA,1"], "n,y"))
    table = csv_table.read_csv(path, "y", missing_values=("-999",))
    assert table.categorical == ("n",)  # "NA" is now an ordinary string.
    table = csv_table.read_csv(path, "y", missing_values=("-999", "NA"))
    np.testing.assert_array_equal(table.features["n"], [np.nan, 2, np.nan])


@pytest.mark.parametrize(
    ("labels", "class_names", "ids"),
    [
        (["1", "0", "0", "1"], ("0", "1"), [1, 0, 0, 1]),
        (["10", "9", "-1", "09"], ("-1", "9", "10"), [2, 1, 0, 1]),
        (["True", "false", "TRUE", "False"], ("false", "true"), [1, 0, 1, 0]),
        (["yes", "No", "YES"], ("no", "yes"), [1, 0, 1]),
        (["malignant", "benign", "benign"], ("benign", "malignant"), [1, 0, 0]),
        (["dog", "cat", "bird", "cat"], ("bird", "cat", "dog"), [2, 1, 0, 1]),
    ],
)
def test_label_mappings(tmp_path, labels, class_names, ids):
    path = _write(tmp_path, _table([f"{i},{v}" for i, v in enumerate(labels)]))
    table = csv_table.read_csv(path, "y")
    assert labels_lib.infer_class_names(table.labels.tolist()) == class_names
    assert csv_table.encode_labels(table, class_names).tolist() == ids


def test_stratified_split_proportions(tmp_path):
    counts = (120, 50, 30)
    data = tabular.load_csv(
        _balanced_csv(tmp_path, counts),
        "y",
        categorical=["id"],
        validation_fraction=0.15,
        test_fraction=0.2,
        seed=3,
    )
    assert data.schema == Schema(("num",), ("id", "color"), "y", ("c0", "c1", "c2"))
    total = sum(counts)
    sizes = {"train": len(data.train), "val": len(data.validation)}
    sizes["test"] = len(data.test)
    assert sizes["test"] == 40 and sizes["val"] == 24 and sum(sizes.values()) == total
    for split in (data.train, data.validation, data.test):
        got = np.bincount(split.labels, minlength=3)
        expected = np.array(counts) * len(split) / total
        assert np.all(np.abs(got - expected) <= 1), (got, expected)
    ids = np.concatenate(
        [s.features["id"] for s in (data.train, data.validation, data.test)]
    )
    assert sorted(ids.astype(int).tolist()) == list(range(total))  # A partition.
    again = tabular.load_csv(_balanced_csv(tmp_path, counts), "y", seed=3)
    np.testing.assert_array_equal(again.test.features["num"], data.test.features["num"])
    other = tabular.load_csv(_balanced_csv(tmp_path, counts), "y", seed=4)
    assert not np.array_equal(other.test.features["num"], data.test.features["num"])


def test_summary_is_json_serializable(tmp_path):
    data = tabular.load_csv(_balanced_csv(tmp_path, (60, 40)), "y", seed=0)
    summary = json.loads(json.dumps(data.summary()))
    assert summary["name"] == "data.csv"
    assert summary["rows"] == {"train": 68, "validation": 12, "test": 20}
    assert summary["class_balance"]["test"] == {"c0": 0.6, "c1": 0.4}
    assert summary["features"] == {"numeric": ["id", "num"], "categorical": ["color"]}


def test_separate_test_file_uses_the_training_schema(tmp_path):
    rng = np.random.default_rng(1)
    train_rows = [
        f"{rng.normal():.3f},{'ab'[i % 2]},{'no' if i % 3 else 'Yes'}"
        for i in range(60)
    ]
    train = _write(tmp_path, _table(train_rows, "num,cat,y"), "train.csv")
    # Other column order, numeric-looking categories, missing values, "YES".
    test = _write(tmp_path, "y,cat,num\nYES,1,NA\nno,a,2.5\nno,,?\n", "test.csv")
    data = tabular.load_csv(train, "y", test_path=test, validation_fraction=0.25)
    assert data.schema == Schema(("num",), ("cat",), "y", ("no", "yes"))
    assert len(data.train) == 45 and len(data.validation) == 15
    assert data.test.labels.tolist() == [1, 0, 0]
    assert data.test.features["cat"].tolist() == ["1", "a", ""]
    np.testing.assert_array_equal(data.test.features["num"], [np.nan, 2.5, np.nan])


def test_test_file_errors(tmp_path):
    train = _write(
        tmp_path, _table([f"{i},{i % 2}" for i in range(40)], "x,y"), "train.csv"
    )
    unseen = _write(tmp_path, "x,y\n1,0\n2,2\n", "test.csv")
    with pytest.raises(ValueError, match=r"test\.csv:3: label '2' .*\['0', '1'\]"):
        tabular.load_csv(train, "y", test_path=unseen)
    columns = _write(tmp_path, "x,z,y\n1,0,0\n", "columns.csv")
    with pytest.raises(ValueError, match=r"columns\.csv must have.*unexpected \['z'\]"):
        tabular.load_csv(train, "y", test_path=columns)
    text = _write(tmp_path, "x,y\n1,0\nabc,1\n", "text.csv")
    with pytest.raises(ValueError, match=r"text\.csv:3: column 'x' \(field 1\)"):
        tabular.load_csv(train, "y", test_path=text)


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("", {}, r"data\.csv is empty"),
        ("\n\n", {}, r"data\.csv is empty"),
        ("x,y\n", {}, r"data\.csv has a header row but no data rows"),
        ("x,y\n1,0\n2,1,3\n", {}, r"data\.csv:3: expected 2 fields.*found 3"),
        ("x,y\n1,0\n2\n", {}, r"data\.csv:3: expected 2 fields.*found 1"),
        ("x,y\n1,0\n", {"label": "target"}, r"'target' is not in .*\['x', 'y'\]"),
        ("x,y\n1,0\n", {"categorical": ["z"]}, r"categorical: column 'z'.*data\.csv"),
        ("x,y\n1,0\n", {"numeric": ["z"]}, r"numeric: column 'z'.*data\.csv"),
        ("x,y\n1,0\n", {"numeric": ["y"]}, r"'y' is the label column"),
        ("x,y\n1,0\n", {"numeric": "x"}, r"argument numeric.*sequence"),
        (
            "x,y\n1,0\n",
            {"numeric": ["x"], "categorical": ["x"]},
            r"\['x'\].*both arguments",
        ),
        ("x,y\n1,0\nfoo,1\n", {"numeric": ["x"]}, r"data\.csv:3: column 'x'.*'foo'"),
        ("x,y\n1,0\n2, NA \n", {}, r"data\.csv:3: missing label"),
        ("x,y,x\n1,0,2\n", {}, r"data\.csv:1: .*column 'x' more than once"),
        ("y\n1\n", {}, r"no feature columns"),
    ],
)
def test_read_errors_name_file_line_and_column(tmp_path, text, kwargs, pattern):
    path = _write(tmp_path, text)
    kwargs = {"label": "y", **kwargs}
    with pytest.raises(ValueError, match=pattern):
        csv_table.read_csv(path, **kwargs)


def test_non_utf8_file_names_line_and_byte_offset(tmp_path):
    path = _write(tmp_path, b"x,y\n1,0\ncaf\xe9,1\n")
    with pytest.raises(ValueError, match=r"data\.csv:3: not UTF-8 .*byte offset 11"):
        csv_table.read_csv(path, "y")
    with pytest.raises(ValueError, match=r"Data file not found: .*nope\.csv"):
        csv_table.read_csv(tmp_path / "nope.csv", "y")


_BAD_ROWS = {
    "column count": (b"1,a,0,extra", {}, r"expected 3 fields \(as in the header\)"),
    "utf-8": (b"1,caf\xe9,0", {}, r"not UTF-8 text"),
    "missing label": (b"1,a,NA", {}, r"missing label \(column 'y' is 'NA'\)"),
    "number": (b"1.2.3,a,0", {"numeric": ["x"]}, r"column 'x' \(field 1\).*'1\.2\.3'"),
    "class": (b"1,a,2", {"class_names": ("0", "1")}, r"label '2' .*\['0', '1'\]"),
}


@pytest.mark.parametrize("case", sorted(_BAD_ROWS))
def test_bad_row_fails_or_is_skipped_and_counted(tmp_path, case):
    bad, kwargs, reason = _BAD_ROWS[case]
    path = _write(tmp_path, b"x,c,y\n1,a,0\n" + bad + b"\n\n2,b,1\n")
    with pytest.raises(ReadError, match=rf"^{re.escape(str(path))}:3: {reason}"):
        csv_table.read_csv(path, "y", **kwargs)
    counts = BadRows()
    table = csv_table.read_csv(path, "y", on_bad_rows="skip", bad_rows=counts, **kwargs)
    assert table.labels.tolist() == ["0", "1"] and table.lines.tolist() == [2, 5]
    assert counts.count == 1 and counts.examples[0].startswith(f"{path}:3: ")


def test_skipped_rows_are_bounded_over_both_files(tmp_path):
    rows = [f"{i},{'ab'[i % 2]}" for i in range(40)]
    rows[5] = "5"  # One malformed training row.
    train = _write(tmp_path, _table(rows, "x,y"), "train.csv")
    test = _write(tmp_path, "x,y\n1,a\n2,c\n3,b\n4\n", "test.csv")
    data = tabular.load_csv(train, "y", test_path=test, on_bad_rows="skip")
    assert len(data.train) + len(data.validation) == 39
    assert data.test.labels.tolist() == [0, 1]
    assert data.bad_rows == {
        "count": 3,
        "examples": [
            f"{train}:7: expected 2 fields (as in the header), found 1",
            f"{test}:3: label 'c' in column 'y' is not one of the training classes "
            "['a', 'b']",
            f"{test}:5: expected 2 fields (as in the header), found 1",
        ],
    }
    assert data.summary()["bad_rows"] == data.bad_rows
    with pytest.raises(ReadError, match=r"test\.csv: more than max_bad_rows=2"):
        tabular.load_csv(train, "y", test_path=test, on_bad_rows="skip", max_bad_rows=2)
    with pytest.raises(ReadError, match=r"train\.csv:7: expected 2 fields"):
        tabular.load_csv(train, "y", test_path=test)
    with pytest.raises(ValueError, match="argument on_bad_rows"):
        tabular.load_csv(train, "y", on_bad_rows="drop")
    with pytest.raises(ValueError, match="argument max_bad_rows"):
        csv_table.read_csv(train, "y", max_bad_rows=-1)
    assert tabular.load_breast_cancer().bad_rows is None
    assert "bad_rows" not in tabular.load_breast_cancer().summary()


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"x,\xffy\n1,0\n", r"data\.csv:1: not UTF-8 text"),
        (b"\n\n", r"data\.csv is empty"),
        ("x,y\n1,0\n".encode("utf-16"), r"data\.csv:1: not UTF-8 text: .*UTF-16"),
        (b"x,y\n\xff\n1\n", r"data\.csv has a header row but no data rows that "
         r"could be read \(2 malformed rows skipped\)"),
    ],
)  # fmt: skip
def test_file_problems_fail_whatever_the_policy(tmp_path, content, pattern):
    path = _write(tmp_path, content)
    with pytest.raises(ReadError, match=pattern):
        csv_table.read_csv(path, "y", on_bad_rows="skip")


def test_lone_carriage_returns_and_blank_lines(tmp_path):
    path = _write(tmp_path, b"x,y\r1,0\r  \r\n2,1\n\t\n3,0")
    table = csv_table.read_csv(path, "y")
    assert table.labels.tolist() == ["0", "1", "0"]
    assert table.lines.tolist() == [2, 4, 6]


def test_byte_order_mark_is_ignored(tmp_path):
    path = _write(tmp_path, b"\xef\xbb\xbfx,y\n1,0\n")
    assert csv_table.read_csv(path, "y").numeric == ("x",)


def test_class_count_errors(tmp_path):
    three = _balanced_csv(tmp_path, (20, 20, 20))
    with pytest.raises(ValueError, match=r"expected 2 classes .* has 3.*binary task"):
        tabular.load_csv(three, "y", expected_classes=2)
    assert len(tabular.load_csv(three, "y", expected_classes=3).schema.class_names) == 3
    one = _write(tmp_path, _table([f"{i},a" for i in range(10)]), "one.csv")
    with pytest.raises(ValueError, match=r"one\.csv: .*single value \['a'\]"):
        tabular.load_csv(one, "y")


def test_split_errors(tmp_path):
    path = _balanced_csv(tmp_path, (20, 1))
    with pytest.raises(ValueError, match=r"stratified test split.*\[20, 1\]"):
        tabular.load_csv(path, "y")
    with pytest.raises(ValueError, match="argument validation_fraction"):
        tabular.load_csv(_balanced_csv(tmp_path, (20, 20)), "y", validation_fraction=0)


def test_breast_cancer_loader():
    data = tabular.load_breast_cancer(seed=0)
    assert data.name == "breast_cancer"
    assert len(data.train) + len(data.validation) + len(data.test) == 569
    assert len(data.schema.numeric) == 30 and data.schema.categorical == ()
    assert data.schema.class_names == ("malignant", "benign")
    assert data.train.features["mean radius"].dtype == np.float32
    assert data.schema.input_names["mean radius"] == "mean_radius"
    assert set(np.unique(data.test.labels)) == {0, 1}
    json.dumps(data.summary())


def test_digits_table_loader():
    data = tabular.load_sklearn_table("digits", seed=1)
    assert len(data.train) + len(data.validation) + len(data.test) == 1797
    assert len(data.schema.numeric) == 64
    assert data.schema.class_names == tuple(str(k) for k in range(10))
    with pytest.raises(ValueError, match=r"argument name.*'iris'"):
        tabular.load_sklearn_table("iris")


def test_input_names_are_sanitized_and_recorded():
    assert columns.input_name("age") == "age"
    assert columns.input_name("mean radius") == "mean_radius"
    assert columns.input_name("1st-try") == "col_1st_try"
    assert columns.input_name("_x") == "col__x"
    schema = Schema(("a b", "ok"), ("c.d",), "y", ("0", "1"))
    assert schema.input_names == {"a b": "a_b", "ok": "ok", "c.d": "c_d"}
    assert all(
        re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n) for n in schema.input_names.values()
    )
    config = dataclasses.asdict(schema)
    assert config["input_names"] == schema.input_names
    assert Schema.from_dict(json.loads(json.dumps(config))) == schema
    with pytest.raises(ValueError, match=r"Unknown schema key\(s\) \['extra'\]"):
        Schema.from_dict({**config, "extra": 1})
    with pytest.raises(ValueError, match="'a b' and 'a_b' both map to .*'a_b'"):
        Schema(("a b", "a_b"), (), "y", ("0", "1"))


def test_schema_and_split_validation():
    with pytest.raises(ValueError, match="label column 'x' is also a feature"):
        Schema(("x",), (), "x", ("0", "1"))
    with pytest.raises(ValueError, match=r"\['x'\] are listed more than once"):
        Schema(("x",), ("x",), "y", ("0", "1"))
    with pytest.raises(ValueError, match="Column 'x' has shape"):
        Split({"x": np.zeros(3, np.float32)}, np.zeros(2, np.int64))
