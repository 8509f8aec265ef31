"""Tests of `xent.ctr.readers`: formats, schema inference, streaming, bad rows."""

import math
import re

import pytest

from tests.xent.rows import assert_same_rows
from xent.ctr import readers
from xent.ctr.readers import BadRows
from xent.ctr.readers import ClickSchema
from xent.ctr.readers import ReadError
from xent.data.columns import MISSING_VALUES


def _write(tmp_path, text, name="clicks.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------------------
# csv / tsv


def _mixed_csv(n=300):
    """A csv of every kind of column, and the rows iter_rows should yield."""
    lines = ["click,site,price,user_id,slot,count,tags"]
    expected = []
    for i in range(n):
        click = int(i % 3 == 0)
        site = "" if i % 10 == 0 else f"s{i % 7}.com"
        price = "NA" if i % 11 == 0 else f"{i * 0.25}"
        tags = ["a|b", "b", "", "c|a|d"][i % 4]
        lines.append(f"{click},{site},{price},{1000 + i},{i % 3},{i % 60},{tags}")
        expected.append(
            {
                "click": click,
                "site": site,
                "user_id": str(1000 + i),
                "slot": str(i % 3),
                "price": math.nan if i % 11 == 0 else i * 0.25,
                "count": float(i % 60),
                "tags": tags,
            }
        )
    return "\n".join(lines) + "\n", expected


def test_csv_with_header_infers_roles_and_reads_values(tmp_path):
    text, expected = _mixed_csv()
    path = _write(tmp_path, text)
    schema = readers.infer_schema(path)
    assert schema.format == "csv"
    assert schema.label == "click"
    # Strings, an id and a small-cardinality code are categorical; floats and
    # a count with 60 distinct values in 300 rows are numeric.
    assert schema.categorical == ("site", "user_id", "slot")
    assert schema.numeric == ("price", "count")
    assert schema.multi_value == ("tags",)
    assert schema.columns == (
        "click",
        "site",
        "price",
        "user_id",
        "slot",
        "count",
        "tags",
    )
    assert_same_rows(list(readers.iter_rows(path, schema)), expected)


def test_missing_value_tokens(tmp_path):
    tokens = ["", "NA", "NaN", "nan", "null", "?", " NA "]
    rows = [f"{i % 2},{t},{t}" for i, t in enumerate(tokens)]
    path = _write(tmp_path, "y,color,size\n" + "\n".join(rows) + "\n1,red,2.5\n")
    schema = ClickSchema("y", categorical=("color",), numeric=("size",))
    rows = list(readers.iter_rows(path, schema))
    assert [r["color"] for r in rows] == [""] * len(tokens) + ["red"]
    assert all(math.isnan(r["size"]) for r in rows[:-1])
    assert rows[-1]["size"] == 2.5


def test_missing_values_are_those_of_every_reader(tmp_path):
    assert readers.MISSING_VALUES is MISSING_VALUES
    rows = [f"{i % 2},{t},{t}" for i, t in enumerate(MISSING_VALUES)]
    path = _write(tmp_path, "y,color,size\n" + "\n".join(rows) + "\n")
    schema = ClickSchema("y", categorical=("color",), numeric=("size",))
    rows = list(readers.iter_rows(path, schema))
    assert [r["color"] for r in rows] == [""] * len(MISSING_VALUES)
    assert all(math.isnan(r["size"]) for r in rows)


def test_labels_true_false_and_minus_one(tmp_path):
    path = _write(tmp_path, "label,x\ntrue,a\nFALSE,b\n-1,c\n+1,d\n0,e\n1.0,f\n")
    schema = readers.infer_schema(path)
    assert [r["label"] for r in readers.iter_rows(path, schema)] == [1, 0, 0, 1, 0, 1]


def test_label_threshold(tmp_path):
    path = _write(tmp_path, "rating,movie\n5,a\n3,b\n4,c\n1.5,d\n")
    with pytest.raises(ReadError, match=r"clicks\.csv:2: .*'5'.*label_threshold"):
        readers.infer_schema(path, label="rating")
    schema = readers.infer_schema(path, label="rating", label_threshold=4)
    assert schema.label_threshold == 4.0
    assert [r["rating"] for r in readers.iter_rows(path, schema)] == [1, 0, 1, 0]


def test_headerless_csv_with_given_column_names(tmp_path):
    path = _write(tmp_path, "1,a,0.5\n0,b,1.5\n0,,2.5\n")
    schema = readers.infer_schema(path, columns=["click", "site", "price"])
    assert schema.header is None and schema.columns == ("click", "site", "price")
    assert (schema.label, schema.categorical, schema.numeric) == (
        "click",
        ("site",),
        ("price",),
    )
    rows = list(readers.iter_rows(path, schema))
    assert [(r["click"], r["site"], r["price"]) for r in rows] == [
        (1, "a", 0.5),
        (0, "b", 1.5),
        (0, "", 2.5),
    ]
    # Without names: c0..c2, and the label must be named.
    with pytest.raises(ReadError, match=r"clicks\.csv: no label column.*'c0'"):
        readers.infer_schema(path)
    schema = readers.infer_schema(path, label="c0")
    assert schema.columns == ("c0", "c1", "c2") and schema.numeric == ("c2",)
    # The same schema reads a file with a header, columns in another order.
    other = _write(tmp_path, "c2,c1,c0\n9.5,z,1\n", "other.csv")
    assert list(readers.iter_rows(other, schema)) == [{"c0": 1, "c1": "z", "c2": 9.5}]


def test_tsv_keeps_quotes_literally(tmp_path):
    path = _write(tmp_path, 'click\tsite\tprice\n1\ta"b\t2\n0\t"c"\t3.5\n', "c.tsv")
    schema = readers.infer_schema(path)
    assert schema.format == "tsv"
    assert schema.numeric == ("price",) and schema.categorical == ("site",)
    rows = list(readers.iter_rows(path, schema))
    assert [r["site"] for r in rows] == ['a"b', '"c"']
    assert [r["price"] for r in rows] == [2.0, 3.5]


# ---------------------------------------------------------------------------
# Criteo, Avazu, libSVM


def _criteo_rows(n=30):
    """Criteo fields (many empty) as strings, and the expected rows."""
    fields, expected = [], []
    for r in range(n):
        row = [str(r % 2)]
        want = {"label": r % 2}
        for i in range(1, 14):
            empty = (r + i) % 3 == 0
            value = (r * i) % 50 - 5
            row.append("" if empty else str(value))
            want[f"I{i}"] = math.nan if empty else float(value)
        for i in range(1, 27):
            empty = (r * i) % 4 == 1
            value = f"{(r * 7919 + i * 104729) % 2**32:08x}"
            row.append("" if empty else value)
            want[f"C{i}"] = "" if empty else value
        fields.append(row)
        expected.append(want)
    return fields, expected


def test_criteo_tsv_without_header_and_csv_with_header(tmp_path):
    fields, expected = _criteo_rows()
    tsv = _write(tmp_path, "".join("\t".join(f) + "\n" for f in fields), "day_0")
    schema = readers.infer_schema(tsv)
    assert schema.format == "criteo" and schema.label == "label"
    assert schema.numeric == tuple(f"I{i}" for i in range(1, 14))
    assert schema.categorical == tuple(f"C{i}" for i in range(1, 27))
    assert_same_rows(list(readers.iter_rows(tsv, schema)), expected)
    # The shared sample's layout: a comma-separated file with a header.
    header = (
        ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    )
    csv_text = ",".join(header) + "\n" + "".join(",".join(f) + "\n" for f in fields)
    csv_path = _write(tmp_path, csv_text, "criteo.csv")
    assert readers.infer_schema(csv_path) == schema
    assert_same_rows(list(readers.iter_rows(csv_path, schema)), expected)


def test_avazu_splits_hour_and_keeps_ids_exact(tmp_path):
    text = (
        "id,click,hour,C1,site_id,device_ip\n"
        "10000169349117863715,0,14102100,1005,1fbe01fe,ddd2926e\n"  # Tue 2014-10-21
        "00000449724948545212,1,14102623,1002,85f751fd,96809ac8\n"  # Sun 2014-10-26
        "18446744073709551616,0,14102012,1005,,00000001\n"  # Mon 2014-10-20
    )
    path = _write(tmp_path, text, "train.csv")
    schema = readers.infer_schema(path)
    assert schema.format == "avazu" and schema.label == "click"
    assert schema.categorical == (
        "hour_of_day",
        "weekday",
        "C1",
        "site_id",
        "device_ip",
    )
    assert schema.numeric == () and "id" not in schema.features
    rows = list(readers.iter_rows(path, schema))
    assert [(r["hour_of_day"], r["weekday"]) for r in rows] == [
        ("00", "1"),
        ("23", "6"),
        ("12", "0"),
    ]
    assert [r["C1"] for r in rows] == ["1005", "1002", "1005"]
    assert [r["device_ip"] for r in rows] == ["ddd2926e", "96809ac8", "00000001"]
    with_id = readers.infer_schema(path, categorical=["id"])
    ids = [r["id"] for r in readers.iter_rows(path, with_id)]
    assert ids == [
        "10000169349117863715",
        "00000449724948545212",
        "18446744073709551616",
    ]


def test_avazu_invalid_hour_is_a_bad_row(tmp_path):
    path = _write(tmp_path, "id,click,hour,C1\n1,0,14102100,a\n2,1,14133100,b\n")
    schema = readers.infer_schema(path)
    with pytest.raises(ReadError, match=r"clicks\.csv:3: column 'hour' is '14133100'"):
        list(readers.iter_rows(path, schema))


def test_libsvm_one_hot_fields_like_frappe(tmp_path):
    text = "1 3:1 10:1 20:1\n-1 4:1 11:1 20:1\n\n-1 3:1 12:1 21:1\n"
    path = _write(tmp_path, text, "data.libfm")
    schema = readers.infer_schema(path)
    assert schema.format == "libsvm"
    assert schema.categorical == ("f0", "f1", "f2") and schema.multi_value == ()
    assert readers.infer_schema(path, categorical=[], numeric=[]) == schema
    rows = list(readers.iter_rows(path, schema))
    assert rows == [
        {"label": 1, "f0": "3", "f1": "10", "f2": "20"},
        {"label": 0, "f0": "4", "f1": "11", "f2": "20"},
        {"label": 0, "f0": "3", "f1": "12", "f2": "21"},
    ]
    named = readers.infer_schema(path, categorical=["user", "item", "city"])
    assert next(readers.iter_rows(path, named)) == {
        "label": 1,
        "user": "3",
        "item": "10",
        "city": "20",
    }
    with pytest.raises(ReadError, match=r"data\.libfm:1: the lines have 3 one-hot"):
        readers.infer_schema(path, categorical=["user", "item"])


def test_generic_libsvm_is_one_multi_value_column(tmp_path):
    # Content sniffing (no libsvm extension); labels 0/1; values other than 1.
    text = "1 3:0.5 7:1 9:0\n0 2:1\n1 4:2 5:1 6:1 8:1\n"
    path = _write(tmp_path, text, "data.txt")
    schema = readers.infer_schema(path, separator=",")
    assert schema.format == "libsvm"
    assert schema.categorical == () and schema.multi_value == ("features",)
    rows = list(readers.iter_rows(path, schema))
    assert rows == [
        {"label": 1, "features": "3,7"},  # 9:0 is absent.
        {"label": 0, "features": "2"},
        {"label": 1, "features": "4,5,6,8"},
    ]


# ---------------------------------------------------------------------------
# Role overrides and errors


def test_explicit_roles_win(tmp_path):
    text, _ = _mixed_csv(60)
    path = _write(tmp_path, text)
    schema = readers.infer_schema(
        path, numeric=["slot"], categorical=["price"], drop=["count"]
    )
    assert schema.categorical == ("site", "price", "user_id")
    assert schema.numeric == ("slot",)
    assert schema.multi_value == ("tags",)
    row = next(readers.iter_rows(path, schema))
    assert row["price"] == "" and row["slot"] == 0.0  # "NA" price on row 0.
    assert "count" not in row


def test_column_in_two_roles(tmp_path):
    path = _write(tmp_path, "click,a,b\n1,x,2\n")
    with pytest.raises(ReadError, match=r"clicks\.csv.*'a' is in two roles"):
        readers.infer_schema(path, categorical=["a"], numeric=["a", "b"])
    with pytest.raises(ReadError, match=r"'click' is the label"):
        readers.infer_schema(path, numeric=["click"])
    with pytest.raises(ValueError, match="'a' is in two roles"):
        ClickSchema("click", categorical=("a",), numeric=("a",))


def test_unknown_override_column_lists_columns(tmp_path):
    path = _write(tmp_path, "click,a,b\n1,x,2\n")
    with pytest.raises(
        ReadError, match=r"clicks\.csv: numeric names unknown.*\['zz'\]"
    ):
        readers.infer_schema(path, numeric=["zz"])


@pytest.mark.parametrize(
    ("content", "kwargs", "pattern"),
    [
        (None, {}, r"Data file not found: .*nothing\.csv"),
        ("", {}, r"nothing\.csv is empty"),
        ("\n\n", {}, r"nothing\.csv is empty"),
        ("click,a\n", {}, r"nothing\.csv has a header row but no data rows"),
        (
            "y,a\n1,x\n",
            {"label": "click"},
            r"nothing\.csv: unknown label column 'click'; the columns are \['y', 'a'\]",
        ),
        ("click,a\n1,x\n0,y\n2,z\n", {}, r"nothing\.csv:4: label column 'click'.*'2'"),
        ("click,a\n1,x\n", {"format": "parquet"}, r"nothing\.csv: unknown format"),
        ("a,b\nx,y\n", {}, r"nothing\.csv: no label column.*\['a', 'b'\]"),
    ],
)
def test_infer_schema_errors_name_the_file(tmp_path, content, kwargs, pattern):
    path = tmp_path / "nothing.csv"
    if content is not None:
        _write(tmp_path, content, "nothing.csv")
    with pytest.raises(ReadError, match=pattern):
        readers.infer_schema(path, **kwargs)


def test_iter_rows_errors_on_missing_and_empty_files(tmp_path):
    schema = ClickSchema("click", categorical=("a",), numeric=())
    with pytest.raises(ReadError, match=r"not found: .*absent\.csv"):
        next(readers.iter_rows(tmp_path / "absent.csv", schema))
    with pytest.raises(ReadError, match=r"empty\.csv is empty"):
        next(readers.iter_rows(_write(tmp_path, "", "empty.csv"), schema))
    with pytest.raises(ReadError, match=r"h\.csv:1: the header lacks .*\['a'\]"):
        next(readers.iter_rows(_write(tmp_path, "click,b\n1,2\n", "h.csv"), schema))


# ---------------------------------------------------------------------------
# Bad rows


_CSV_SCHEMA = ClickSchema("click", categorical=("site",), numeric=("price",))
_SVM_SCHEMA = ClickSchema(
    "label", categorical=("f0", "f1"), numeric=(), format="libsvm"
)
_MULTI_SCHEMA = ClickSchema(
    "label", categorical=(), numeric=(), multi_value=("features",), format="libsvm"
)

_BAD_ROWS = {
    "column count": (_CSV_SCHEMA, b"1,a,2.5,extra", r"expected 3 fields, found 4"),
    "number": (_CSV_SCHEMA, b"1,a,2.5.1", r"column 'price' \(field 3\).*'2\.5\.1'"),
    "digit separator": (_CSV_SCHEMA, b"1,a,1_000", r"column 'price'.*'1_000'"),
    "label": (_CSV_SCHEMA, b"yes,a,2", r"label column 'click' has the value 'yes'"),
    "missing label": (_CSV_SCHEMA, b",a,2", r"missing label"),
    "utf-8": (_CSV_SCHEMA, b"1,caf\xe9,2", r"not UTF-8 text"),
    "libsvm token": (_SVM_SCHEMA, b"1 3:1 x7", r"bad token 'x7': expected idx:val"),
    "libsvm value": (_SVM_SCHEMA, b"1 3:1 7:abc", r"bad token '7:abc'"),
    "libsvm width": (_SVM_SCHEMA, b"1 3:1", r"expected 2 idx:val tokens"),
    "one-hot value": (_SVM_SCHEMA, b"1 3:1 7:0.5", r"field 'f1' has the value '0\.5'"),
    "libsvm label": (_SVM_SCHEMA, b"2 3:1 7:1", r"label column 'label'.*'2'"),
    "multi token": (_MULTI_SCHEMA, b"1 3:1 :1", r"bad token ':1'"),
}


def _file_with_bad_line_3(tmp_path, schema, bad):
    """A file whose line 3 is `bad`, with 3 good rows."""
    if schema.format == "libsvm":
        content = b"1 3:1 7:1\n0 4:1 8:1\n" + bad + b"\n0 5:1 9:1\n"
        return _write(tmp_path, content, "data.libsvm")
    content = b"click,site,price\n1,a,2.5\n" + bad + b"\n0,b,\n1,c,3\n"
    return _write(tmp_path, content, "data.csv")


@pytest.mark.parametrize("case", sorted(_BAD_ROWS))
def test_bad_row_fails_naming_file_and_line(tmp_path, case):
    schema, bad, reason = _BAD_ROWS[case]
    path = _file_with_bad_line_3(tmp_path, schema, bad)
    with pytest.raises(ReadError, match=rf"^{re.escape(str(path))}:3: {reason}"):
        list(readers.iter_rows(path, schema))


@pytest.mark.parametrize("case", sorted(_BAD_ROWS))
def test_bad_row_skipped_and_counted(tmp_path, case):
    schema, bad, reason = _BAD_ROWS[case]
    path = _file_with_bad_line_3(tmp_path, schema, bad)
    counts = BadRows()
    rows = list(readers.iter_rows(path, schema, on_bad_rows="skip", bad_rows=counts))
    assert len(rows) == 3
    assert counts.count == 1
    assert len(counts.examples) == 1
    assert counts.examples[0].startswith(f"{path}:3: ")


def test_skipped_rows_are_bounded(tmp_path):
    lines = ["click,site,price"]
    for i in range(20):
        lines.append(f"{i % 2},s,{'oops' if i % 3 == 0 else i}")  # 7 bad rows.
    path = _write(tmp_path, "\n".join(lines) + "\n")
    counts = BadRows()
    rows = list(
        readers.iter_rows(
            path, _CSV_SCHEMA, on_bad_rows="skip", max_bad_rows=7, bad_rows=counts
        )
    )
    assert len(rows) == 13 and counts.count == 7
    assert counts.examples == [
        f"{path}:{line}: column 'price' (field 3) is numeric but has the value 'oops'"
        for line in (2, 5, 8, 11, 14)
    ]
    counts = BadRows()
    with pytest.raises(ReadError, match=r"more than max_bad_rows=6 malformed rows"):
        list(
            readers.iter_rows(
                path, _CSV_SCHEMA, on_bad_rows="skip", max_bad_rows=6, bad_rows=counts
            )
        )
    assert counts.count == 7
    with pytest.raises(ValueError, match="on_bad_rows"):
        next(readers.iter_rows(path, _CSV_SCHEMA, on_bad_rows="ignore"))


def test_rows_are_streamed(tmp_path):
    # The first rows come out before a malformed later line is read.
    path = _write(tmp_path, "click,site,price\n1,a,1\n0,b,2\n1,c,oops\n")
    rows = readers.iter_rows(path, _CSV_SCHEMA)
    assert next(rows)["site"] == "a" and next(rows)["site"] == "b"
    with pytest.raises(ReadError, match=":4: "):
        next(rows)


def test_byte_order_mark_and_crlf(tmp_path):
    path = _write(tmp_path, b"\xef\xbb\xbfclick,site,price\r\n1,a,1\r\n0,b,\r\n")
    schema = readers.infer_schema(path)
    assert schema.label == "click"
    rows = list(readers.iter_rows(path, schema))
    assert [r["site"] for r in rows] == ["a", "b"]


def test_a_lone_carriage_return_ends_a_line(tmp_path):
    path = _write(tmp_path, b"click,site,price\r1,a,1\r0,b,2\r\n1,c,oops\n")
    rows = readers.iter_rows(path, _CSV_SCHEMA)
    assert [next(rows)["site"], next(rows)["site"]] == ["a", "b"]
    with pytest.raises(ReadError, match=r"clicks\.csv:4: column 'price'"):
        next(rows)


def test_malformed_csv_line_is_a_bad_row(tmp_path):
    huge = "x" * 200_000  # Over the csv module's field size limit.
    path = _write(tmp_path, f"click,site,price\n1,a,1\n0,{huge},2\n1,c,3\n")
    with pytest.raises(ReadError, match=r"clicks\.csv:3: malformed line: field larger"):
        list(readers.iter_rows(path, _CSV_SCHEMA))
    counts = BadRows()
    rows = list(
        readers.iter_rows(path, _CSV_SCHEMA, on_bad_rows="skip", bad_rows=counts)
    )
    assert [r["site"] for r in rows] == ["a", "c"] and counts.count == 1


@pytest.mark.parametrize("on_bad_rows", ["fail", "skip"])
def test_a_first_line_that_is_not_utf8_always_fails(tmp_path, on_bad_rows):
    # It decides the delimiter and the header, so it cannot be skipped.
    path = _write(tmp_path, b"clic\xe9,site,price\n1,a,1\n")
    with pytest.raises(ReadError, match=r"clicks\.csv:1: not UTF-8 text"):
        list(readers.iter_rows(path, _CSV_SCHEMA, on_bad_rows=on_bad_rows))
    with pytest.raises(ReadError, match=r"clicks\.csv:1: not UTF-8 text"):
        readers.infer_schema(path, on_bad_rows=on_bad_rows)


def test_only_malformed_rows_are_counted_not_called_empty(tmp_path):
    # Found by the fuzz tests: these files were reported as having no rows.
    for name, content, schema in [
        ("h.csv", b"click,site,price\n1,\xff,2\n", _CSV_SCHEMA),
        ("s.libsvm", b"1 3:\xff 7:1\n", _SVM_SCHEMA),
    ]:
        path = _write(tmp_path, content, name)
        counts = BadRows()
        rows = list(
            readers.iter_rows(path, schema, on_bad_rows="skip", bad_rows=counts)
        )
        assert rows == [] and counts.count == 1, name


def test_infer_schema_with_skip_leaves_malformed_sample_rows_out(tmp_path):
    text = b"click,site,price\n1,a,1.5\nyes,b,2\n0,caf\xe9,3\n0,c,\n"
    path = _write(tmp_path, text)
    with pytest.raises(ReadError, match=r"clicks\.csv:4: not UTF-8"):
        readers.infer_schema(path)
    schema = readers.infer_schema(path, on_bad_rows="skip")
    assert (schema.categorical, schema.numeric) == (("site",), ("price",))
    counts = BadRows()
    rows = list(readers.iter_rows(path, schema, on_bad_rows="skip", bad_rows=counts))
    assert [r["site"] for r in rows] == ["a", "c"] and counts.count == 2
    # A malformed libsvm line does not turn one-hot fields into a multi-value
    # column.
    svm = _write(tmp_path, b"1 3:1 7:1\n0 4:1 x7\n0 5:1 9:1\n", "d.libsvm")
    assert readers.infer_schema(svm).multi_value == ("features",)
    schema = readers.infer_schema(svm, on_bad_rows="skip")
    assert schema.categorical == ("f0", "f1")
    with pytest.raises(ValueError, match="on_bad_rows"):
        readers.infer_schema(svm, on_bad_rows="ignore")


def test_files_without_features(tmp_path):
    # Found by the fuzz tests: these raised a ValueError without the file name.
    path = _write(tmp_path, "click\n1\n")
    with pytest.raises(ReadError, match=r"clicks\.csv: no feature columns besides"):
        readers.infer_schema(path)
    # libsvm lines of a label alone: one multi-value column without values.
    path = _write(tmp_path, "1\n0\n", "labels.libsvm")
    schema = readers.infer_schema(path)
    assert schema.multi_value == ("features",)
    assert [r["features"] for r in readers.iter_rows(path, schema)] == ["", ""]
    path = _write(tmp_path, "\n:\n", "colon.libsvm")
    with pytest.raises(ReadError, match=r"colon\.libsvm:2: label column 'label'"):
        readers.infer_schema(path)


# ---------------------------------------------------------------------------
# The shared real data (skipped when ../shared/datasets is absent)


@pytest.mark.shared_data
def test_frappe_validation_file(shared_datasets):
    path = shared_datasets / "frappe" / "frappe.validation.libfm"
    fields = ["user", "item", "daytime", "weekday", "isweekend", "homework"]
    fields += ["cost", "weather", "country", "city"]
    schema = readers.infer_schema(path, categorical=fields)
    assert schema.format == "libsvm" and schema.categorical == tuple(fields)
    rows = positives = 0
    for row in readers.iter_rows(path, schema):
        rows += 1
        positives += row["label"]
    assert (rows, positives) == (57_722, 19_063)


@pytest.mark.shared_data
def test_ctr_samples(shared_datasets):
    folder = shared_datasets / "ctr_samples"
    criteo = readers.infer_schema(folder / "criteo_sample.txt")
    assert criteo.format == "criteo"
    assert (len(criteo.numeric), len(criteo.categorical)) == (13, 26)
    rows = list(readers.iter_rows(folder / "criteo_sample.txt", criteo))
    assert (len(rows), sum(r["label"] for r in rows)) == (200, 49)
    assert any(math.isnan(r["I1"]) for r in rows)
    assert any(r["C19"] == "" for r in rows)

    avazu = readers.infer_schema(folder / "avazu_sample.txt", categorical=["id"])
    assert avazu.format == "avazu"
    rows = list(readers.iter_rows(folder / "avazu_sample.txt", avazu))
    assert len(rows) == 100
    first_id = (folder / "avazu_sample.txt").read_text().splitlines()[1].split(",")[0]
    assert rows[0]["id"] == first_id == "1000009418151094273"
    assert {r["weekday"] for r in rows} <= {str(d) for d in range(7)}

    movielens = readers.infer_schema(
        folder / "movielens_sample.txt", label="rating", label_threshold=4
    )
    assert movielens.multi_value == ("genres",)
    assert {"user_id", "movie_id", "gender"} <= set(movielens.categorical)
    rows = list(readers.iter_rows(folder / "movielens_sample.txt", movielens))
    assert len(rows) == 200
    assert rows[0]["genres"] == "Comedy|Drama" and rows[0]["rating"] == 1
