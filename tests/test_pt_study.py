"""The PT study on the sweep runner (issue 22): same switches.csv on every executor, resume after
SIGKILL without recomputing stored runs, bad input refused in one line before any work, and a
summary that stays readable with many data sets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sweep_worker
from bayes_tms.pt import PTConfig
from comparisons.cli import main
from comparisons.jobs import bayes_pt
from comparisons.jobs.bayes_pt import SwitchStudyConfig, run_pt_study, switch_summary

TINY = dict(ns=(20, 40, 80), copies=2, sweeps=24, warmup=10, pilot_sweeps=10, pilot_warmup=10, features=4,
            leapfrog=4, seed=3)
WORKER = Path(sweep_worker.__file__)
CLI_TINY = ["bayes", "--sampler", "pt", "--n", "20,40,80", "--features", "4", "--copies", "2", "--sweeps", "24",
            "--warmup", "10", "--leapfrog", "4", "--seed", "3", "--no-progress"]


def _study(out, **sweep):
    return run_pt_study(PTConfig(**TINY, bootstrap=50),
                        SwitchStudyConfig(datasets=1, conventions=("tempered",), population=True, refine_rounds=1),
                        out, progress=False, **sweep).summary


def test_switches_are_identical_in_process_on_a_pool_and_on_dask(tmp_path):
    pytest.importorskip("distributed")
    inline = _study(tmp_path / "inline")
    pool = _study(tmp_path / "pool", executor="process", workers=2)
    dask = _study(tmp_path / "dask", scheduler="local", workers=2)
    ref = (tmp_path / "inline" / "switches.csv").read_bytes()
    assert inline["switches"] and inline["computed"] == 2 and pool["computed"] == dask["computed"] == 2
    assert inline["switches"] == pool["switches"] == dask["switches"]  # every float, not only the csv's digits
    for name in ("pool", "dask"):
        assert (tmp_path / name / "switches.csv").read_bytes() == ref
        assert (tmp_path / name / "switch_summary.csv").read_bytes() == \
            (tmp_path / "inline" / "switch_summary.csv").read_bytes()
    # every run was refined: its switches come from the last, finer ladder
    from comparisons.theory.ladder import bracket_resolved

    refinement = json.loads((tmp_path / "inline" / "tempered" / "data00" / "refinement.json").read_text())
    assert refinement[0]["ns"] == [20, 40, 80]
    for run in ("data00", "population"):
        first = json.loads((tmp_path / "inline" / "tempered" / run / "refinement.json").read_text())[0]
        columns = {k: [sw[i] for sw in first["switches"]]
                   for i, k in enumerate(("n", "n_before", "n_after", "lower", "upper"), start=2)}
        wide = ~bracket_resolved(columns, 0.02)
        assert bool(first["inserted"]) == bool(wide.any())  # every switch wider than 2% (and its interval) is refined
    again = _study(tmp_path / "inline")
    assert again["cached"] and again["reused"] == 2 and (tmp_path / "inline" / "switches.csv").read_bytes() == ref


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import sweep_worker
sweep_worker.install_faults()
from bayes_tms.pt import PTConfig
from comparisons.io import write_json
from comparisons.jobs.bayes_pt import SwitchStudyConfig, run_pt_study
res = run_pt_study(PTConfig(**{tiny!r}, bootstrap=50), SwitchStudyConfig(datasets=3, population=False, refine_rounds=1),
                   {out!r}, progress=False)
write_json({out!r} + "/counts.json", {{"computed": res.summary["computed"], "reused": res.summary["reused"]}})
"""


def test_study_killed_after_its_kth_task_resumes_without_recomputing_it(tmp_path):
    out = tmp_path / "study"
    code = DRIVER.format(tests=str(WORKER.parent), tiny=TINY, out=str(out))
    env = {**os.environ, "SWEEP_TEST_KILL_AFTER": "2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          start_new_session=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    results = out / "tasks" / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert len(before) == 2 and not (out / "switches.csv").exists()
    env.pop("SWEEP_TEST_KILL_AFTER")
    rerun = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                           start_new_session=True)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "counts.json").read_text()) == {"computed": 1, "reused": 2}
    assert all((results / k).stat().st_mtime_ns == m for k, m in before.items())
    assert len(list(results.glob("*.json"))) == 3 and (out / "switches.csv").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["--datasets", "0"], "--datasets"),
    (["--datasets", "2", "--conventions", "tempered,nope"], "--conventions"),
    (["--datasets", "2", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler: expected a reachable Dask scheduler"),
    (["--datasets", "2", "--scheduler", "nonsense:address:x"], "--scheduler"),
    (["--workers", "2"], "--workers: expected together with --datasets"),
])
def test_bad_study_input_is_one_line_and_exit_2_before_any_work(tmp_path, capsys, argv, fragment):
    out = tmp_path / "never"
    code = main([*CLI_TINY, "--out", str(out), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def _rows(values, conv="tempered", repeat=()):
    rows = []
    for k, n in enumerate(values):
        rows.append({"convention": conv, "beta": 1.0, "dataset": str(k), "from": "5", "to": "6", "n": float(n),
                     "lower": n - 10, "upper": n + 10, "predicted_n": 600.0, "predicted_n_laplace": 225.0,
                     "mixed": True})
        if k in repeat:  # 5 -> 6 -> 5 -> 6
            rows += [{**rows[-1], "from": "6", "to": "5", "n": n + 100.0},
                     {**rows[-1], "n": n + 200.0}]
    rows.append({**rows[0], "dataset": "population", "n": 280.0})
    return rows


def test_summary_of_200_data_sets_has_intervals_and_the_share_of_repeated_switches():
    rng = np.random.default_rng(0)
    values = rng.normal(300, 50, size=200).round()
    summary = switch_summary(_rows(values, repeat=range(0, 200, 10)), datasets=200, seed=1)
    five_six = summary.isel(row=(summary["from"].values == "5") & (summary["to"].values == "6"))
    r = {k: v.item() for k, v in five_six.isel(row=0).data_vars.items()}
    # a 5 -> 6 -> 5 -> 6 stretch counts once, at the geometric mean of its first and last crossing
    merged = np.where(np.arange(200) % 10 == 0, np.sqrt(values * (values + 200.0)), values)
    assert r["datasets"] == 200 and r["mean"] == pytest.approx(merged.mean())
    assert r["median"] == pytest.approx(np.median(merged)) and r["sd"] == pytest.approx(merged.std(ddof=1))
    assert set(summary["from"].values) == {"5"}  # the 6 -> 5 crossings inside a stretch are no switch of their own
    assert r["mean_lower"] < r["mean"] < r["mean_upper"] and r["sd_lower"] < r["sd"] < r["sd_upper"]
    assert r["median_lower"] <= r["median"] <= r["median_upper"]
    assert r["not_single"] == pytest.approx(0.1)  # 20 of 200 go 5 -> 6 -> 5 -> 6
    assert "200 values" in r["values"] and len(r["values"]) < 80  # every value is in switches.csv
    assert r["population"] == 280.0


def test_switch_figure_of_200_data_sets_marks_population_and_both_predictions(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    rows = (_rows(rng.normal(300, 50, 200).round())
            + _rows(rng.normal(600, 80, 200).round(), conv="gaussian-sigma1"))
    fig = bayes_pt.plot_switches(rows, features=6)
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for want in ("population loss", "free energy, asymptotic", "free energy, with O(1) terms",
                 "5 → 6: data sets (200)"):
        assert want in labels
    fig.savefig(tmp_path / "switches.png")


def test_a_resumed_study_tables_its_stored_switches_with_the_theorys_predictions_of_now(tmp_path, monkeypatch):
    """A stored run keeps the switches it sampled; the predictions beside them are recomputed from
    the theory when the study's tables are written, so that a corrected prediction (the directed
    Laplace crossing) reaches a study whose runs were sampled before it."""
    import csv

    import bayes_tms.occupancy as occ

    out = tmp_path / "study"
    with monkeypatch.context() as m:  # the code that sampled the runs predicted something else
        m.setattr(occ, "predicted_crossing", lambda *a, **k: 12345.0)
        _study(out)
    stale = list(csv.DictReader((out / "switches.csv").open()))
    assert stale and all(float(r["predicted_n"]) == 12345.0 for r in stale)
    _study(out)  # every run stored: nothing resampled
    rows = list(csv.DictReader((out / "switches.csv").open()))
    assert [(r["from"], r["to"], r["n"]) for r in rows] == [(r["from"], r["to"], r["n"]) for r in stale]
    for r in rows:
        want = occ.predicted_crossing(r["from"], r["to"], float(r["n"]), 4, beta=float(r["beta"]))
        assert (r["predicted_n"] == "" and want is None) or float(r["predicted_n"]) == pytest.approx(want)


def test_summary_judges_each_switch_by_its_copies_agreement_where_it_happens():
    """A switch whose copies disagree at the rungs around it (loss R-hat > MIXED_RHAT) is counted as
    not measured, however the run mixed elsewhere; a merged stretch takes its worst crossing."""
    rows = _rows([300.0, 310.0, 320.0], repeat=[1])
    for r in rows:
        r["rhat_switch"], r["mixed"] = 1.01, False
    rows[3]["rhat_switch"] = 1.3  # the last crossing of data set 1's 5 -> 6 -> 5 -> 6 stretch
    summary = switch_summary(rows, datasets=3, seed=0)
    r = {k: v.item() for k, v in summary.isel(row=0).data_vars.items()}
    assert r["rhat_max"] == pytest.approx(1.3) and r["disagree"] == 1 and r["switches"] == 4  # 3 data sets + population
    words = bayes_pt.mixing_words(r)
    assert "DISAGREE at 1 of these 4 switches" in words and "1.30" in words
    for row in rows:
        row["rhat_switch"] = 1.01
    r = {k: v.item() for k, v in switch_summary(rows, datasets=3).isel(row=0).data_vars.items()}
    assert r["disagree"] == 0 and "copies agree at the switch (loss R-hat at most 1.01)" in bayes_pt.mixing_words(r)
    assert bayes_pt.mixing_words({**r, "all_mixed": True}) == ""
    for row in rows:  # runs of one copy have no R-hat: none counted, no warning (RuntimeWarnings are errors here)
        row["rhat_switch"] = np.nan
    r = {k: v.item() for k, v in switch_summary(rows, datasets=3).isel(row=0).data_vars.items()}
    assert np.isnan(r["rhat_max"]) and r["disagree"] == 0 and r["switches"] == 0


def test_study_switches_carry_the_loss_rhat_at_their_bracketing_rungs(tmp_path):
    import csv

    import xarray as xr

    out = tmp_path / "study"
    _study(out)
    rows = list(csv.DictReader((out / "switches.csv").open()))
    assert rows
    for r in rows:
        folder = out / r["convention"] / ("population" if r["dataset"] == "population" else f"data{int(r['dataset']):02d}")
        diag = xr.open_dataset(folder / "diagnostics.nc")
        rhat = dict(zip(diag["n"].values.tolist(), diag["rhat_loss"].values.tolist()))
        want = max(rhat[int(float(r["n_before"]))], rhat[int(float(r["n_after"]))])
        assert float(r["rhat_switch"]) == pytest.approx(want, rel=1e-5)  # the CSV keeps 6 digits
    # the summary of switches.csv as read back (strings, empty cells) is the one the study wrote
    again = switch_summary(rows, datasets=1, seed=0)
    written = xr.open_dataset(out / "switch_summary.nc")
    for k in ("mean", "population", "predicted_n", "predicted_n_laplace", "rhat_max", "disagree", "switches",
              "all_mixed"):
        np.testing.assert_allclose(again[k].values.astype(float), written[k].values.astype(float), rtol=1e-5)


def test_the_estimate_of_a_stored_study_leaves_out_its_stored_runs(tmp_path, capsys):
    from comparisons.cost import pt_seconds
    from comparisons.sweep import intact_tasks

    config = PTConfig(**TINY, bootstrap=50)
    study = SwitchStudyConfig(datasets=1, conventions=("tempered",), population=True, refine_rounds=1)
    out = tmp_path / "study"
    assert bayes_pt.stored_study_runs(config, study, out) == set() and not out.exists()  # read only
    full = pt_seconds(config, study)
    _study(out)
    stored = bayes_pt.stored_study_runs(config, study, out)
    assert stored == {("tempered", "0"), ("tempered", "population")}
    assert pt_seconds(config, study, stored=stored) < full
    assert pt_seconds(config, study, stored={("tempered", "0")}) < full
    # runs of another study (another convention, a data set it lacks) change nothing
    assert pt_seconds(config, study, stored={("gaussian-sigma1", "0"), ("tempered", "7")}) == full
    # a damaged result is not stored: it is recomputed, and counted
    tasks = bayes_pt.study_tasks(config, study)
    results = out / "tasks" / "results"
    seal = next(p for p in results.glob("*.json"))
    payload = next(p for p in results.iterdir() if p.stem == seal.stem and p.suffix != ".json")
    payload.write_bytes(payload.read_bytes()[:-1])
    assert sum(intact_tasks(out / "tasks", tasks, result_format=bayes_pt.STUDY_FORMAT,
                            versions=bayes_pt._study_versions())) == 1
    cli = [*CLI_TINY, "--datasets", "1", "--refine-rounds", "1", "--out", str(tmp_path / "cli")]
    assert main(cli) == 0
    assert "stored, not counted" not in capsys.readouterr().err
    assert main(cli) == 0
    assert "(1 stored, not counted)" in capsys.readouterr().err
