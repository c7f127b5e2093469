"""``tms-phases reproduce`` at a test-only size: every file of the report, and resumption."""

import json

import pytest

from comparisons.cli import main

pytestmark = pytest.mark.e2e

FILES = ["report.md", "report.html", "reproduce.json", "summary.txt", "phases.png", "comparison.png",
         "theory/theory.json", "bayes/occupancy.csv", "bayes/occupancy_raw.csv", "bayes/log_mass.csv",
         "bayes/transitions.json", "bayes/diagnostics.csv", "bayes/occupancy.png", "bayes/posterior_n00100.nc",
         "sgd/trajectory.nc", "sgd/sequences.csv", "sgd/transitions.csv", "sgd/staircase.png",
         "sgd/plateaus.png", "bayes_pt/occupancy.csv", "bayes_pt/diagnostics.csv", "bayes_pt/pt_diagnostics.nc",
         "bayes_study/switches.csv", "bayes_study/switch_summary.csv", "occupancy_compare.csv",
         # the hand-offs the report reads (comparisons.contracts)
         "bayes/occupancy.nc", "bayes/occupancy_family.nc", "bayes/transitions.nc", "bayes/diagnostics.nc",
         "bayes_pt/occupancy.nc", "bayes_pt/transitions.nc", "bayes_pt/diagnostics.nc",
         "bayes_study/switch_summary.nc", "sgd/plateaus.nc", "occupancy_compare.nc"]


def test_reproduce_tiny_writes_every_file_and_reuses_finished_parts(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    for f in FILES:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    printed = capsys.readouterr().out
    assert "report:" in printed and "theory (c = 6)" in printed
    report = (out / "report.md").read_text()
    for section in ("## Verdicts", "## The phases (theory)", "## Bayesian: posterior phase occupancy",
                    "## Dynamical: SGD trajectories", "## Bayesian versus dynamical", "## Reproducibility",
                    "## Bayesian: two estimators of the occupancy",
                    "## Bayesian: the switch over data sets and conventions"):
        assert section in report
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 5
    stamps = {f: (out / f).stat().st_mtime_ns for f in ("bayes/posterior_n00100.nc", "sgd/trajectory.nc")}
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    for f, t in stamps.items():
        assert (out / f).stat().st_mtime_ns == t, f"{f} was recomputed"
    info = json.loads((out / "reproduce.json").read_text())
    assert info["config"]["preset"] == "tiny" and "bayes" in info["wall_seconds"]
    # the cached re-run reports the time the computation took, marked cached
    assert info["cached"] == ["bayes", "bayes_pt", "bayes_study", "sgd"]
    timing = json.loads((out / "bayes" / "timing.json").read_text())
    assert timing["cached"] and info["wall_seconds"]["bayes"] == timing["compute_s"] > 0
    sgd = json.loads((out / "sgd" / "summary.json").read_text())["timings_s"]
    assert sgd["cached"] and info["wall_seconds"]["sgd"] == sgd["train_and_llc_s"] > 0
    assert '"bayes (cached)"' in (out / "report.md").read_text()


@pytest.mark.parametrize("argv, fragment", [
    (["reproduce", "--preset", "huge"], "--preset: expected one of quick, paper"),
    (["reproduce", "--features", "9"], "--features: expected 4, 5 or 6"),
    (["reproduce", "--seed", "-1"], "--seed: expected a non-negative integer"),
])
def test_reproduce_bad_input(argv, fragment, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
