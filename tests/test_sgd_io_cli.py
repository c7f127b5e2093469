"""Data contract, netCDF round trip, segmentation, bad inputs and the ``tms-phases sgd`` CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from comparisons.cli import main
from comparisons.contracts import read_plateaus, validate_trajectory
from comparisons.errors import InputError
from comparisons.jobs.sgd import save_trajectory
from sgd_tms import (LLCConfig, TrainConfig, estimate_llc, llc_config_of, load_trajectory,
                     path_fractions, segment_run, train,
                     train_config_of, transition_counts, transition_matrix)
from sgd_tms.model import resolve_device, resolve_dtype


@pytest.fixture(scope="module")
def traj():
    cfg = TrainConfig(runs=2, n=100, batch_size=10, epochs=8, checkpoint_every=4, log_checkpoints=3)
    return estimate_llc(train(cfg), LLCConfig(draws=20, chains=2, thin=5))


def test_dataset_contract(traj):
    assert traj["W"].dims == ("run", "step", "hidden", "feature")
    assert traj["b"].dims == ("run", "step", "feature")
    for v in ("loss", "population_loss", "llc", "llc_n_escaped", "llc_n_nonfinite"):
        assert traj[v].dims == ("run", "step")
    assert traj["loss_trace"].dims == ("run", "step", "chain", "draw")
    assert list(traj["epoch"].values) == [0, 1, 3, 4, 8]
    assert train_config_of(traj).epochs == 8
    assert llc_config_of(traj) == LLCConfig(draws=20, chains=2, thin=5)
    for key in ("seed", "version", "config_hash", "train_config", "llc_config"):
        assert key in traj.attrs


def test_netcdf_round_trip(traj, tmp_path):
    path = save_trajectory(traj, tmp_path / "t.nc")
    back = load_trajectory(path)
    xr.testing.assert_identical(back, traj)
    assert back["llc_escaped"].dtype == bool
    xr.testing.assert_identical(validate_trajectory(path), traj)  # the hand-off to comparisons


def test_load_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(InputError, match="trajectory"):
        load_trajectory(bad)


def test_segment_run_plateaus_and_transitions():
    steps = np.arange(12) * 10
    loss = [0.111, 0.111, 0.111, 0.105, 0.104, 0.104, 0.104, 0.08, 0.069, 0.0687, 0.0687, 0.0687]
    labels = ["4", "4", "4", "4+", "4+", "4+", "4+", "unclassified", "5", "5", "5", "5"]
    llc = np.linspace(5, 8, 12)
    plats = segment_run(steps, loss, labels, llc)
    assert [p.phase for p in plats] == ["4", "4+", "5"]
    assert (plats[1].start_step, plats[1].end_step) == (30, 60)
    assert plats[0].llc < plats[2].llc


def test_ensemble_summaries():
    import pandas as pd

    seq = pd.DataFrame({"run": [0, 0, 1, 1, 1], "order": [0, 1, 0, 1, 2],
                        "phase": ["4", "5", "4", "4+", "5"], "start_step": [0, 50, 0, 20, 60],
                        "end_step": [40, 90, 10, 50, 90], "loss": [.11, .07, .11, .10, .07],
                        "llc": [5, 7, 5, 6, 7.0]})
    tc = transition_counts(seq)
    assert set(map(tuple, tc[["from", "to", "count"]].values)) == {("4", "5", 1), ("4", "4+", 1), ("4+", "5", 1)}
    m = transition_matrix(seq)
    assert int(m.sel(from_phase="4", to_phase="4+")) == 1 and int(m.sum()) == 3
    pf = path_fractions(seq, runs=3)
    assert np.isclose(pf["fraction"].sum(), 1.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"runs": 0}, "runs"), ({"lr": -0.1}, "lr"), ({"batch_size": 2000}, "batch_size"),
    ({"optimizer": "rmsprop"}, "optimizer"), ({"init_k": 9}, "init_k"), ({"dtype": "float16"}, "dtype"),
])
def test_bad_train_config(kwargs, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(**kwargs)


def test_bad_llc_config_and_resolvers():
    with pytest.raises(InputError, match="warmup"):
        LLCConfig(draws=10, warmup=10)
    with pytest.raises(InputError, match="escape_fraction"):
        LLCConfig(escape_fraction=0)
    with pytest.raises(InputError, match="dtype"):
        resolve_dtype("int8")
    with pytest.raises(InputError, match="device"):
        resolve_device("tpu")


@pytest.mark.parametrize("argv", [
    ["sgd", "--runs", "0"], ["sgd", "--preset", "huge"], ["sgd", "--lr", "nan"],
    ["sgd", "--llc-draws", "5", "--llc-warmup", "9"], ["sgd", "--device", "cuda:7"],
])
def test_cli_bad_input_exit_2(argv, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_cli_tiny_run_writes_everything(tmp_path, capsys):
    argv = ["sgd", "--preset", "smoke", "--runs", "3", "--epochs", "12", "--n", "100",
            "--checkpoint-every", "3", "--llc-draws", "15", "--llc-chains", "2", "--seed", "5",
            "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    for name in ("trajectory.nc", "plateaus.nc", "sequences.csv", "transitions.csv", "staircase.png",
                 "plateaus.png", "paths.csv", "time_in_phase.csv", "summary.json"):
        assert (tmp_path / name).is_file(), name
    plateaus = read_plateaus(tmp_path / "plateaus.nc")  # the hand-off and its CSV export agree
    exported = pd.read_csv(tmp_path / "sequences.csv", dtype={"phase": str})
    assert plateaus["phase"].values.tolist() == list(exported["phase"])
    assert plateaus["run"].values.tolist() == list(exported["run"])
    assert plateaus.attrs["runs"] == 3 and plateaus.attrs["labelling"] == "structure"
    header = (tmp_path / "sequences.csv").read_text().splitlines()[0]
    assert header == "run,order,phase,start_step,end_step,loss,llc"
    assert (tmp_path / "transitions.csv").read_text().splitlines()[0] == "from,to,count"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == 3 and summary["train_config"]["seed"] == 5
    capsys.readouterr()
    assert main(argv) == 0  # second run reuses the intact trajectory
    assert "reusing training" in capsys.readouterr().err


def test_cli_help_lists_options():
    out = subprocess.run([sys.executable, "-m", "comparisons.cli", "sgd", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--runs", "--preset", "--seed", "--out", "--epochs", "--lr", "--batch-size",
                 "--checkpoint-every", "--llc-draws", "--llc-step", "--device", "--dtype"):
        assert flag in out


def test_import_is_layered_and_side_effect_free():
    code = ("import sys, sgd_tms; bad = [m for m in ('bayes_tms', 'pymc', 'pytensor') if m in sys.modules];"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
