"""The Frappe benchmark: goal arithmetic, and a skip without the data."""

import pytest

from xent.bench import ctr_real_log as frappe


def _run(seed, auc, calibration=1.0, gauc=0.9):
    return {
        "seed": seed,
        "auc": auc,
        "log_loss": 0.2,
        "calibration": calibration,
        "gauc": gauc,
        "lr_auc": 0.93,
    }


def test_goal_needs_the_mean_auc_calibration_and_gauc():
    good = [_run(0, 0.956), _run(1, 0.953), _run(2, 0.955)]
    summary = frappe.summarize_frappe(good)
    assert summary["mean_auc"] == pytest.approx(0.954666, abs=1e-6)
    assert summary["meets_goal"]
    assert not frappe.summarize_frappe([*good[:2], _run(2, 0.955, 1.05)])["meets_goal"]
    assert not frappe.summarize_frappe([*good[:2], _run(2, 0.955, gauc=None)])[
        "meets_goal"
    ]
    assert not frappe.summarize_frappe([_run(0, 0.95), _run(1, 0.95)])["meets_goal"]


def test_the_benchmark_is_skipped_without_the_data(tmp_path, monkeypatch):
    monkeypatch.delenv("XENT_FRAPPE", raising=False)
    monkeypatch.chdir(tmp_path)
    report = frappe.run_frappe(frappe.FrappeConfig(folder=str(tmp_path)))
    assert "skipped" in report and report["runs"] == []
    assert report["table"]["rows"]
