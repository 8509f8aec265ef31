"""Every task's report.html opened in headless Chromium: images load, no
section is empty. Skipped where Chromium is absent (`make install-chromium`).

The pages are rendered as the runner renders them (`report.render_html` over
a task's `report.json` and its plots, written side by side), from small
synthetic results, so the test needs no training.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from xent import evaluation
from xent import plots
from xent import report
from xent.ctr import metrics as ctr_metrics

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
BROWSER = next((b for b in map(shutil.which, _BROWSERS) if b), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium (make install-chromium)"
)

# Appended to a copy of the page: once loaded, writes what it found into the
# DOM, which --dump-dom prints.
_CHECK_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((img) => ({
    src: img.getAttribute("src"),
    ok: img.complete && img.naturalWidth > 0,
  }));
  const sections = [...document.querySelectorAll("section")].map((s) => {
    const body = s.cloneNode(true);
    body.querySelectorAll("h2").forEach((h) => h.remove());
    return {
      title: (s.querySelector("h2") || {}).textContent || "",
      empty: !body.textContent.trim() && !body.querySelector("img, table"),
    };
  });
  const out = document.createElement("pre");
  out.id = "xent-check";
  out.textContent = JSON.stringify({images, sections});
  document.body.appendChild(out);
});
</script>
"""


def check_in_browser(page: Path) -> dict:
    """`{"images": [{src, ok}], "sections": [{title, empty}]}` of a page as
    headless Chromium loads it (images relative to the page's folder)."""
    probe = page.with_name(f".check-{page.name}")
    probe.write_text(page.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    try:
        done = subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--allow-file-access-from-files",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    found = re.search(r'<pre id="xent-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium printed no check ({done.returncode}): {done.stderr}"
    text = found.group(1).replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(text.replace("&lt;", "<").replace("&gt;", ">"))


def _write_page(folder: Path, data: dict, images: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in images.items():
        (folder / name).write_bytes(png)
    data = report.to_jsonable(data)
    page = folder / "report.html"
    page.write_text(report.render_html(data, {name: name for name in images}))
    return page


_HISTORY = {"loss": [0.7, 0.5], "val_loss": [0.72, 0.6]}


def _binary(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    data = {
        "task": "binary",
        "dataset": {
            "name": "churn.csv",
            "rows": {"train": 900, "test": 300},
            "class_balance": {"train": {"no": 0.5, "yes": 0.5}},
            "features": {"numeric": ["tenure"], "categorical": ["plan"]},
        },
        "metrics": {"test": evaluation.binary_metrics(y, p)},
        "baseline": {"logistic_regression": evaluation.binary_metrics(y, p**2)},
        "class_names": ["no", "yes"],
        "config": {"train": {"epochs": 2}},
        "created": "2026-01-01T00:00:00+00:00",
    }
    images = plots.render_plots("binary", y, p, _HISTORY, ["no", "yes"])
    return _write_page(folder, data, images)


def _multiclass(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 150)
    logits = rng.normal(size=(150, 3)) + 2.0 * np.eye(3)[y]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = ["a", "b", "c"]
    data = {
        "task": "multiclass",
        "dataset": {"name": "digits", "rows": {"train": 450, "test": 150}},
        "metrics": {"test": evaluation.multiclass_metrics(y, prob, names)},
        "class_names": names,
    }
    images = plots.render_plots("multiclass", y, prob, _HISTORY, names)
    return _write_page(folder, data, images)


def _ctr(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    p_true = rng.uniform(0.01, 0.3, 2000)
    y = (rng.random(2000) < p_true).astype(np.int64)
    prob = np.clip(p_true * rng.uniform(0.8, 1.2, 2000), 1e-4, 1 - 1e-4)
    groups = rng.integers(0, 20, 2000)
    test = ctr_metrics.ctr_metrics(
        y, prob, background_ctr=0.15, groups=groups, p_true=p_true
    )
    base = ctr_metrics.ctr_metrics(y, np.full(2000, 0.15), background_ctr=0.15)
    data = {
        "task": "ctr",
        "dataset": {
            "name": "synthetic click log",
            "rows": {"train": 8000, "test": 2000},
            "class_balance": {"test": {"click": int(y.sum()), "no_click": 2000}},
        },
        "metrics": {"test": test},
        "baseline": {"logistic_regression": {**base, "train_rows": 8000}},
        "config": {"model": {"kind": "fm", "embedding_dim": 4}},
    }
    images = plots.render_ctr_plots(y, prob, _HISTORY, test["calibration_buckets"])
    return _write_page(folder, data, images)


def _gan(folder: Path) -> Path:
    names = ("samples.png", "real_images.png", "class_coverage.png")
    data = {
        "task": "gan",
        "dataset": {"name": "digits", "rows": {"train": 1167, "test": 360}},
        "metrics": {"test": {"frechet_ratio": 3.1, "min_class_fraction": 0.02}},
        "baseline": {"gaussian_pixels": {"frechet_ratio": 9.0}},
        "html": {"title": "Evaluation report — digits — DCGAN", "metrics_note": "x"},
    }
    images = {name: plots.message_png(name, "a plot") for name in names}
    images["training_curves.png"] = plots.training_curves_png(
        {"d_loss": np.array([1.0, 0.8])}
    )
    return _write_page(folder, data, images)


@pytest.mark.parametrize("task", ["binary", "multiclass", "ctr", "gan"])
def test_report_page_loads_every_image_and_fills_every_section(tmp_path, task):
    page = {"binary": _binary, "multiclass": _multiclass, "ctr": _ctr, "gan": _gan}[
        task
    ](tmp_path / task)
    found = check_in_browser(page)
    expected = {p.name for p in page.parent.glob("*.png")}
    assert {image["src"] for image in found["images"]} == expected
    assert all(image["ok"] for image in found["images"]), found["images"]
    assert found["sections"], "no sections"
    assert not [s["title"] for s in found["sections"] if s["empty"]], found


def test_a_missing_image_is_caught(tmp_path):
    page = _gan(tmp_path / "gan")
    (page.parent / "samples.png").unlink()
    found = check_in_browser(page)
    broken = [image["src"] for image in found["images"] if not image["ok"]]
    assert broken == ["samples.png"]
