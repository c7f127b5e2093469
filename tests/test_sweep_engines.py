"""The sweep runner under a real engine: SIGKILL and resume, executors agree, bad flags."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from comparisons.cli import main

pytestmark = pytest.mark.e2e

TINY = ["sgd", "--preset", "smoke", "--runs", "4", "--epochs", "30", "--checkpoint-every", "10",
        "--llc-draws", "20", "--llc-chains", "2", "--block-runs", "1", "--no-progress"]


def trajectory(out: Path) -> xr.Dataset:
    with xr.open_dataset(out / "trajectory.nc", engine="h5netcdf") as ds:
        return ds.load()


def results(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "tasks" / "results").glob("*") if p.suffix == ".nc"}


WORKER = Path(__file__).with_name("sweep_worker.py")


def _run_killed(out: Path, **fault: int) -> int:
    """Run the TINY sweep in a subprocess that SIGKILLs itself at the point ``fault`` names."""
    env = {**os.environ, **{f"SWEEP_TEST_{k.upper()}": str(v) for k, v in fault.items()}}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(WORKER), "cli", *TINY, "--out", str(out), "--executor", "inline"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
    return proc.returncode


@pytest.mark.parametrize("fault", [{"kill_after": 2}, {"kill_before_seal": 3}])
def test_sigkill_then_resume_gives_the_uninterrupted_result_without_recomputing(tmp_path, fault):
    """SIGKILL at a deterministic point (after the 2nd seal, or between the 3rd payload and its
    seal): the re-run recomputes only what was not sealed and equals an uninterrupted run."""
    ref, out = tmp_path / "ref", tmp_path / "killed"
    assert main(TINY + ["--out", str(ref), "--executor", "inline"]) == 0
    assert _run_killed(out, **fault) == -signal.SIGKILL
    before = results(out)
    sealed = {k: t for k, t in before.items()
              if (out / "tasks" / "results" / k).with_suffix(".json").exists()}
    assert len(sealed) == 2, "killed after exactly two sealed blocks"
    assert len(before) == (3 if "kill_before_seal" in fault else 2)
    assert not (out / "trajectory.nc").exists()
    assert main(TINY + ["--out", str(out), "--executor", "inline"]) == 0
    after = results(out)
    assert all(after[k] == t for k, t in sealed.items()), "finished blocks were recomputed"
    a, b = trajectory(ref), trajectory(out)
    for v in ("W", "b", "loss", "llc"):
        np.testing.assert_array_equal(a[v].values, b[v].values)


def test_process_pool_and_dask_local_cluster_give_identical_results(tmp_path):
    pytest.importorskip("distributed")
    assert main(TINY + ["--out", str(tmp_path / "pool"), "--executor", "process", "--workers", "2"]) == 0
    assert main(TINY + ["--out", str(tmp_path / "dask"), "--dask-local", "--workers", "2"]) == 0
    a, b = trajectory(tmp_path / "pool"), trajectory(tmp_path / "dask")
    for v in ("W", "b", "loss", "llc"):
        np.testing.assert_array_equal(a[v].values, b[v].values)


@pytest.mark.parametrize("extra, fragment", [
    (["--block-runs", "0"], "--block-runs: expected an integer >= 1"),
    (["--executor", "mpi"], "--executor"),
    (["--workers", "0"], "--workers"),
    (["--retries", "-1"], "--retries"),
])
def test_bad_sweep_flags(tmp_path, capsys, extra, fragment):
    assert main(TINY + ["--out", str(tmp_path)] + extra) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


BAYES = ["bayes", "--sampler", "nuts", "--features", "6", "--n", "100,200", "--chains", "2", "--draws", "20", "--warmup", "20",
         "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress"]


def test_bayes_rungs_corrupt_result_is_recomputed_others_reused(tmp_path):
    out = tmp_path / "b"
    assert main(BAYES + ["--out", str(out)]) == 0
    first = results(out)
    assert len(first) == 2
    ref = {}
    for n in (100, 200):
        with xr.open_dataset(out / f"posterior_n{n:05d}.nc", group="posterior", engine="h5netcdf") as ds:
            ref[n] = ds.W.values.copy()
    victim = sorted(first)[0]
    path = out / "tasks" / "results" / victim
    path.write_bytes(path.read_bytes()[:100])  # truncate: no longer intact
    assert main(BAYES + ["--out", str(out)]) == 0
    again = results(out)
    assert again[victim] != first[victim]
    assert all(again[k] == t for k, t in first.items() if k != victim)
    for n in (100, 200):
        with xr.open_dataset(out / f"posterior_n{n:05d}.nc", group="posterior", engine="h5netcdf") as ds:
            np.testing.assert_array_equal(ds.W.values, ref[n])


@pytest.mark.parametrize("argv, fragment", [
    (BAYES[:6] + ["4"] + BAYES[7:], "n: expected sample sizes >= the number of features c = 6, got 4"),
    (BAYES[:10] + ["0"] + BAYES[11:], "draws: expected an integer >= 10, got 0"),
    (["sgd", "--preset", "smoke", "--n", "3"], "n: expected at least the number of features c = 6"),
    (["kgons", "--features", "1"], "--features: expected an integer from 2 to 8"),
])
def test_each_bad_input_gets_its_one_line_message(tmp_path, capsys, argv, fragment):
    assert main(argv + ["--out", str(tmp_path / "x")] if argv[0] != "kgons" else argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(BAYES + ["--out", str(blocker / "sub")]) == 2
    assert "--out: expected a writable folder" in capsys.readouterr().err
