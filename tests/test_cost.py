"""Cost estimates up front and the ``--yes`` gate for runs over an hour (issue 12, item 8)."""

from __future__ import annotations

import pytest

from comparisons import cost
from comparisons.cli import main

from test_bad_inputs import WorkStarted, no_work  # noqa: F401  (fixture)

BIG_BAYES = ["bayes", "--sampler", "nuts", "--features", "6", "--n", ",".join(str(100 * k) for k in range(1, 21)), "--chains", "64",
             "--draws", "5000", "--tune", "5000", "--backend", "pymc", "--no-progress"]
SMALL_BAYES = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "2", "--draws", "10", "--tune", "10",
               "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress"]


def test_the_issue_example_is_minutes_and_the_model_is_what_the_docstring_says():
    from bayes_tms import BayesConfig

    cfg = BayesConfig(ns=tuple(range(100, 801, 100)), chains=4, draws=1500, tune=1500, backend="nutpie")
    assert cost.bayes_seconds(cfg) == pytest.approx(8 * 4 * 3000 * cost.NUTS_STEP_S["nutpie"] / 2)
    assert cost.bayes_seconds(cfg) < cost.CONFIRM_ABOVE_S
    assert cost.format_duration(30) == "30 s" and cost.format_duration(600) == "10 min"
    assert cost.format_duration(7200) == "2.0 h"


def test_a_multi_hour_bayes_run_needs_yes_and_says_why(tmp_path, capsys, no_work):  # noqa: F811
    assert main(BIG_BAYES + ["--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("estimated cost: about ") and " h for 20 n x 64 chains" in err[0]
    assert err[1].startswith("error: --yes: expected") and len(err) == 2
    with pytest.raises(WorkStarted):  # with --yes it starts
        main(BIG_BAYES + ["--out", str(tmp_path / "b"), "--yes"])


def test_a_small_run_prints_its_estimate_and_starts_without_yes(tmp_path, capsys, no_work):  # noqa: F811
    with pytest.raises(WorkStarted):
        main(SMALL_BAYES + ["--out", str(tmp_path / "s")])
    assert capsys.readouterr().err.startswith("estimated cost: about ")


@pytest.mark.parametrize("argv", [
    ["sgd", "--preset", "paper", "--runs", "2000", "--no-progress"],
    ["llc", "--features", "6", "--ns", ",".join(str(1000 * k) for k in range(1, 80)), "--methods", "nuts",
     "--phases", "6,5"],
])
def test_sgd_and_llc_runs_over_an_hour_need_yes(argv, tmp_path, capsys, no_work):  # noqa: F811
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    assert "error: --yes: expected for a run estimated at about" in capsys.readouterr().err
    with pytest.raises(WorkStarted):
        main(argv + ["--out", str(tmp_path / "o"), "--yes"])


def test_reproduce_confirms_the_whole_run_once_before_the_first_stage(tmp_path, capsys, monkeypatch, no_work):  # noqa: F811
    monkeypatch.setattr(cost, "CONFIRM_ABOVE_S", 1e-3)  # make the tiny preset "long"
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bayes + bayes_pt + bayes_pt_sigma1 + smc + figure2 + bayes_study + sgd stages" in err and "--yes" in err
    assert not (tmp_path / "r" / "bayes").exists()  # refused before the Bayesian stage
    with pytest.raises(WorkStarted):
        main(argv + ["--yes"])
