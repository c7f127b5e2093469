"""SGD runs that diverge are flagged, parked and left out of the analysis (issue 12, item 3)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from comparisons.cli import main
from sgd_tms.config import preset
from sgd_tms.phases import label_checkpoints, phase_sequences, plateau_rank_correlation
from sgd_tms.train import DIVERGENCE_BOUND, diverged_runs, train

#: 6 Gaussian-initialised runs at lr 1.5: runs 1, 3 and 5 blow up in the first epoch
MIXED = dict(runs=6, epochs=20, lr=1.5, init="gaussian", init_scale=1.0)
MIXED_CLI = ["sgd", "--preset", "smoke", "--runs", "6", "--epochs", "20", "--lr", "1.5", "--init",
             "gaussian", "--init-scale", "1", "--llc-draws", "20", "--llc-chains", "2", "--no-progress",
             "--executor", "inline"]


def test_exploding_runs_are_flagged_nan_after_divergence_and_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings spam
        ds = train(preset("smoke", runs=2, epochs=20, lr=10.0))
    assert ds["diverged"].values.tolist() == [True, True]
    step = ds["diverged_step"].values
    assert (step > 0).all()
    after = ds["step"].values[None, :] >= step[:, None]
    assert np.isnan(ds["W"].values[after]).all() and np.isnan(ds["loss"].values[after]).all()
    assert np.isnan(ds["population_loss"].values[after]).all()
    before = ~after
    assert np.isfinite(ds["W"].values[before]).all()  # the init (step 0) is kept
    assert np.nanmax(np.abs(ds["W"].values)) <= DIVERGENCE_BOUND


def _mixed_pattern(ds):
    """The diverged and stable runs of the MIXED ensemble (lr 1.5 from a Gaussian start: some of each)."""
    bad = diverged_runs(ds)
    good = [r for r in ds["run"].values.tolist() if r not in bad]
    assert bad and good, f"MIXED is meant to give both kinds of run, got diverged {bad}"
    return bad, good


def test_diverged_runs_do_not_disturb_the_others():
    tc = preset("smoke", **MIXED)
    ds = train(tc)
    bad, good = _mixed_pattern(ds)
    s = tc.steps_per_epoch  # they blow up in the first epoch
    assert ds["diverged_step"].values.tolist() == [s if r in bad else -1 for r in range(6)]
    alone = train(tc, run_ids=good)
    assert not alone["diverged"].values.any()
    for v in ("W", "b", "loss"):
        np.testing.assert_array_equal(ds[v].sel(run=good).values, alone[v].values)


def test_analysis_labels_diverged_checkpoints_and_skips_diverged_runs():
    ds = label_checkpoints(train(preset("smoke", **MIXED)))
    bad, _ = _mixed_pattern(ds)
    assert (ds["phase"].sel(run=bad).values[:, 1:] == "diverged").all()
    assert np.isnan(ds["phase_distance"].sel(run=bad).values[:, 1:]).all()
    stable = label_checkpoints(train(preset("smoke", runs=2, epochs=20)))  # 4-gon plateaus
    runs = set(phase_sequences(stable)["run"])
    assert runs
    flagged = stable.assign(diverged=("run", [r in runs for r in stable["run"].values]))
    assert phase_sequences(flagged).empty


def test_rank_correlation_of_no_plateaus_is_nan_not_a_type_error():
    empty = pd.DataFrame(columns=["run", "order", "phase", "start_step", "end_step", "loss", "llc", "points"])
    rho, count = plateau_rank_correlation(empty)
    assert np.isnan(rho) and count == 0


def test_cli_warns_once_naming_the_diverged_runs_and_analyses_the_rest(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(MIXED_CLI + ["--out", str(out)]) == 0
    err = capsys.readouterr().err
    with xr.open_dataset(out / "trajectory.nc", engine="h5netcdf") as ds:
        bad, good = _mixed_pattern(ds)
        assert ds["diverged"].values.tolist() == [r in bad for r in range(6)]
        llc = ds["llc"].values
        assert np.isnan(llc[bad, 1:]).all() and np.isfinite(llc[good]).any()
        assert int(ds["llc_n_nonfinite"].sum()) == 0  # diverged checkpoints are not chains gone bad
    lines = [ln for ln in err.splitlines() if "diverged" in ln]
    assert len(lines) == 1 and f"{len(bad)} of 6 runs diverged" in lines[0]
    assert "runs " + ", ".join(map(str, bad)) in lines[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged_runs"] == bad
    seq = pd.read_csv(out / "sequences.csv")
    assert set(seq["run"]) <= set(good)


def test_cli_all_runs_diverged_is_a_one_line_error_and_a_consistent_folder(tmp_path, capsys):
    out = tmp_path / "s"
    out.mkdir()
    (out / "sequences.csv").write_text("stale table of an earlier run\n")
    argv = ["sgd", "--out", str(out), "--preset", "smoke", "--runs", "2", "--epochs", "20", "--lr", "10",
            "--no-progress", "--executor", "inline"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("error") == 1 and err.splitlines()[-1].startswith("error: all 2 runs diverged")
    assert "Traceback" not in err and "lower --lr (got 10)" in err
    assert not (out / "sequences.csv").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged_runs"] == [0, 1] and summary["error"] == "every run diverged"
    assert (out / "trajectory.nc").exists()
    assert main(argv) == 1  # the re-run reuses the trajectory and says the same
