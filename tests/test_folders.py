"""An output folder is one job's (issue 21, items 1-4), tested with real runs, processes and files.

1. One owner: a different job or sampler is refused in one line naming the owner (``--replace``
   moves the old files to ``unused/``); files a job no longer writes leave its folder.
2. Cached results are validated before they are served: a damaged one is recomputed with a
   warning naming it, never an error, and ``done.json`` never outlives the files it vouches for.
3. Two runs into one folder: the second is refused naming the first's process (two real
   processes); a lock left by a dead process is taken over.
4. Disk full (``ENOSPC`` injected into :mod:`comparisons.io`, and a real size-limited tmpfs where
   the machine allows mounting one) and unwritable paths: one line, exit 2, nothing stored is lost,
   no partial file.

The last block (``FOLDER_CASES``) is this issue's round of bad folder inputs for the command line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bayes_tms.pt import PTConfig
from comparisons import folder as folder_mod
from comparisons import io as io_mod
from comparisons.cli import main
from comparisons.contracts import validate_posterior
from comparisons.jobs.bayes_pt import DONE_FILE, run_pt
from comparisons.theory import OCCUPANCY_RULE

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(ns=(20, 40), copies=2, sweeps=12, warmup=4, pilot_sweeps=4, pilot_warmup=4, features=4, leapfrog=3,
            seed=3)
PT_FILES = ("posterior_n00020.nc", "posterior_n00040.nc", "pt_diagnostics.nc", "done.json", "occupancy.csv")
#: the CLI's PT command (default pilot settings; the tiny ladder keeps it to seconds)
PT_CLI = ["bayes", "--features", "4", "--n", "20,40", "--copies", "2", "--sweeps", "12", "--warmup", "4",
          "--leapfrog", "3", "--bootstrap", "20", "--no-progress", "--yes"]
NUTS_CLI = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "4", "--draws", "12",
            "--warmup", "5", "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress", "--yes"]
SGD_CLI = ["sgd", "--preset", "smoke", "--runs", "2", "--epochs", "4", "--checkpoint-every", "2", "--no-llc",
           "--no-progress", "--executor", "inline", "--yes"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("error: "), err
    return lines[-1]


def _bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def pt_folder(tmp_path_factory) -> Path:
    """A finished tiny PT run (copied by each test that damages it)."""
    out = tmp_path_factory.mktemp("pt") / "D"
    run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def fake_nuts(monkeypatch):
    """The NUTS back-end replaced by well-formed draws near a phase (as in test_bayes_faults)."""
    from test_bayes_faults import FakeBackend

    import bayes_tms.sampling as sampling

    backend = FakeBackend()
    monkeypatch.setattr(sampling, "_sample_pymc", backend)
    return backend


# -- 1. one owner ---------------------------------------------------------------------------------


def test_pt_then_nuts_then_pt_is_refused_and_never_served_as_cached(pt_folder, tmp_path, capsys, fake_nuts):
    """The issue's scenario: a NUTS run into a PT folder is refused, and --replace sets PT aside."""
    out = _copy(pt_folder, tmp_path / "D")
    before = _bytes(out)
    assert main([*NUTS_CLI, "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "bayes --sampler pt" in line and "new --out" in line and "--replace" in line
    assert _bytes(out) == before and not fake_nuts.calls  # refused before any sampling

    assert main([*NUTS_CLI, "--out", str(out), "--replace"]) == 0
    err = capsys.readouterr().err
    assert "moved to" in err
    for name in ("done.json", "pt_diagnostics.nc"):  # no PT file beside the NUTS outputs
        assert not (out / name).exists() and (out / "unused" / name).exists()
    assert folder_mod.read_owner(out)["job"] == "bayes --sampler nuts"
    assert (out / "log_mass.csv").exists()

    # the PT command again: refused, not "(cached)" with NUTS draws
    assert main([*PT_CLI, "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "bayes --sampler nuts" in line


def test_pt_into_a_nuts_folder_with_replace_leaves_no_nuts_file(tmp_path, capsys, fake_nuts):
    out = tmp_path / "D"
    assert main([*NUTS_CLI, "--out", str(out)]) == 0
    assert main([*PT_CLI, "--out", str(out), "--replace"]) == 0
    capsys.readouterr()
    for name in ("log_mass.csv", "occupancy_raw.csv", "tasks"):  # kept beside occupancy.csv before
        assert not (out / name).exists(), name
        assert (out / "unused" / name).exists(), name
    post = validate_posterior(out / "posterior_n00020.nc").posterior
    assert "config" in post.attrs and post.sizes["chain"] == 2  # PT copies, not NUTS chains
    assert folder_mod.read_owner(out)["job"] == "bayes --sampler pt"


def test_files_a_job_no_longer_writes_leave_the_folder_and_a_cached_rerun_moves_nothing(tmp_path, capsys):
    out = tmp_path / "D"
    run_pt(PTConfig(**{**TINY, "ns": (20, 40, 80)}, bootstrap=20), out, progress=False, refine_tol=0)
    (out / "notes.txt").write_text("mine")  # a user's own file: never touched
    run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)  # a shorter ladder (refined: more files)
    assert not (out / "posterior_n00080.nc").exists()
    assert (out / "unused" / "posterior_n00080.nc").exists() and (out / "notes.txt").read_text() == "mine"
    assert "posterior_n00080.nc" in capsys.readouterr().err
    shutil.rmtree(out / "unused")
    before = _bytes(out)
    res = run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    assert res.cached and not (out / "unused").exists()
    for name in PT_FILES[:4]:
        assert (out / name).read_bytes() == before[name]
    owner = folder_mod.read_owner(out)
    assert owner["job"] == "bayes --sampler pt" and owner["status"] == "finished" and owner["config_hash"]
    assert "posterior_n00040.nc" in owner["outputs"] and "posterior_n00080.nc" not in owner["outputs"]


def test_a_folder_written_before_owner_records_is_recognised(pt_folder, tmp_path, capsys, fake_nuts):
    out = _copy(pt_folder, tmp_path / "D")
    (out / folder_mod.OWNER_FILE).unlink()
    assert main([*NUTS_CLI, "--out", str(out)]) == 2
    assert "bayes --sampler pt" in _one_error_line(capsys.readouterr().err)
    res = run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)  # its own job adopts it
    assert res.cached and folder_mod.read_owner(out)["job"] == "bayes --sampler pt"


# -- 2. cached results validated before they are served ---------------------------------------------


def _write_nan(path: Path) -> None:
    import arviz as az

    idata = az.from_netcdf(str(path), engine="h5netcdf")
    for g in idata.groups():
        idata[g] = idata[g].load()
    W = idata.posterior["W"].values.copy()
    W[0, 0, 0, 0] = np.nan
    idata.posterior["W"] = (idata.posterior["W"].dims, W)
    path.unlink()
    idata.to_netcdf(str(path), engine="h5netcdf")


@pytest.mark.parametrize("damage", ["nan", "truncated", *(pytest.param(d, marks=pytest.mark.slow) for d in
                                                            ("deleted", "done_garbage", "diagnostics_truncated"))])
def test_a_damaged_pt_run_is_recomputed_with_a_warning_naming_the_file(pt_folder, tmp_path, capsys, damage):
    out = _copy(pt_folder, tmp_path / "D")
    post = out / "posterior_n00040.nc"
    if damage == "nan":
        _write_nan(post)
    elif damage == "truncated":
        post.write_bytes(post.read_bytes()[:2000])
    elif damage == "deleted":
        post.unlink()
    elif damage == "done_garbage":
        (out / DONE_FILE).write_text("{not json")
    else:
        (out / "pt_diagnostics.nc").write_bytes(b"\x89HDF")
    res = run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    err = capsys.readouterr().err
    assert not res.cached, err
    named = {"done_garbage": "done.json", "diagnostics_truncated": "pt_diagnostics.nc"}.get(damage, post.name)
    assert "warning:" in err and named in err and "recomputing" in err
    idata = validate_posterior(post)
    assert np.isfinite(idata.posterior["W"].values).all()
    # the recomputed run is the same run: same seed, same draws as the undamaged one
    ref = validate_posterior(pt_folder / post.name).posterior["W"].values
    np.testing.assert_array_equal(idata.posterior["W"].values, ref)
    assert run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False).cached


def test_the_done_marker_goes_before_a_recomputation_starts(pt_folder, tmp_path, monkeypatch):
    import bayes_tms.pt as pt

    out = _copy(pt_folder, tmp_path / "D")
    _write_nan(out / "posterior_n00020.nc")

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pt, "save_state", stop)
    with pytest.raises(KeyboardInterrupt):
        run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False, chunk=4)
    assert not (out / DONE_FILE).exists()  # it vouched for a file that failed


def test_a_damaged_study_run_is_recomputed_alone(tmp_path, capsys):
    """A study run is a stored task of the sweep runner: a damaged one is named and recomputed alone."""
    from comparisons.jobs.bayes_pt import SwitchStudyConfig, run_pt_study

    cfg, study = PTConfig(**TINY, bootstrap=20), SwitchStudyConfig(datasets=2, population=False)
    run_pt_study(cfg, study, tmp_path, progress=False)
    runs = sorted((tmp_path / "tempered").iterdir())
    assert [p.name for p in runs] == ["data00", "data01"]
    seals = sorted((tmp_path / "tasks" / "results").glob("*.json"))
    assert len(seals) == 2
    seal = json.loads(seals[1].read_text())
    payload = next(p for p in seals[1].parent.iterdir() if p.stem == seals[1].stem and p.suffix != ".json")
    payload.write_bytes(payload.read_bytes()[: payload.stat().st_size // 2])  # truncated on disk
    capsys.readouterr()
    res = run_pt_study(cfg, study, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert res.summary["computed"] == 1 and res.summary["reused"] == 1 and not res.cached
    assert "warning:" in err and "damaged" in err and seal["task"]["name"] in err
    assert run_pt_study(cfg, study, tmp_path, progress=False).cached
    assert folder_mod.read_owner(tmp_path)["job"] == "bayes --sampler pt --datasets"


def test_damaged_sgd_trajectory_and_stored_block_are_recomputed(tmp_path, capsys):
    out = tmp_path / "S"
    assert main([*SGD_CLI, "--out", str(out)]) == 0
    ref = xr.load_dataset(out / "trajectory.nc", engine="h5netcdf")
    capsys.readouterr()
    # NaN in a run that is not flagged diverged: damage, not data
    ds = ref.copy(deep=True)
    W = ds["W"].values.copy()
    W[0, -1, 0, 0] = np.nan
    ds["W"] = (ds["W"].dims, W)
    (out / "trajectory.nc").unlink()
    ds.to_netcdf(out / "trajectory.nc", engine="h5netcdf")
    assert main([*SGD_CLI, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "trajectory.nc" in err and "finite W" in err
    again = xr.load_dataset(out / "trajectory.nc", engine="h5netcdf")
    np.testing.assert_array_equal(again["W"].values, ref["W"].values)
    # a stored block whose bytes changed: named, recomputed
    (payload,) = (out / "tasks" / "results").glob("*.nc")
    payload.write_bytes(payload.read_bytes()[:500])
    (out / "trajectory.nc").unlink()
    assert main([*SGD_CLI, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "sgd runs 0-1" in err and "damaged" in err
    np.testing.assert_array_equal(xr.load_dataset(out / "trajectory.nc", engine="h5netcdf")["W"].values,
                                  ref["W"].values)


def test_only_intact_measured_llc_records_are_reused(tmp_path, capsys):
    from comparisons.jobs.llc import reusable_records

    path = tmp_path / "llc_measured_c4.json"
    good = {"phase": "4", "llc_measured": 5.4, "llc_se": 0.1, "volume_runs": [5.3, 5.5],
            "curve": [{"m": 1e3, "llc": 5.0, "se": 0.2}]}
    nan = {**good, "phase": "4+", "curve": [{"m": 1e3, "llc": float("nan"), "se": 0.2}]}
    missing = {"phase": "4++", "llc_se": 0.1}
    # a volume slope of NaN (too few levels in a fit range) leaves the record reusable: it is refitted
    unfitted = {**good, "phase": "3", "volume_runs": [None, 5.5]}
    path.write_text(json.dumps({"c": 4, "phases": [good, nan, missing, unfitted]}))
    assert list(reusable_records(path, 4)) == ["4", "3"]
    err = capsys.readouterr().err
    assert "'4+'" in err and "'4++'" in err and err.count("warning:") == 2
    path.write_text('{"c": 4, "phases": [')  # truncated
    assert reusable_records(path, 4) == {} and "damaged" in capsys.readouterr().err


@pytest.mark.slow
def test_damaged_measured_llc_records_are_measured_again(tmp_path, capsys):
    from comparisons.jobs.llc import measure_phase_llcs, table_paths

    kw = dict(ms=(1e3, 1e4, 1e5), nuts=dict(chains=2, draws=40, warmup=40),  # as in test_population_llc
              volume=dict(particles=60, eps_min=1e-3, eps_fit=(1e-3, 1e-1), mh_steps=3), volume_repeats=2,
              search=dict(starts=4, iters=3, radii=(0.05,)), rse_target=None)
    table = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    path, _ = table_paths(tmp_path, 4)
    bad = json.loads(path.read_text())
    bad["phases"][0]["curve"][0]["llc"] = float("nan")
    path.write_text(json.dumps(bad))
    capsys.readouterr()
    again = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    err = capsys.readouterr().err
    assert "warning:" in err and "'4'" in err and again["phases"][0]["reused"] == []
    assert [c["llc"] for c in again["phases"][0]["curve"]] == [c["llc"] for c in table["phases"][0]["curve"]]
    path.write_text('{"c": 4, "phases": [')  # truncated
    third = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    assert "damaged" in capsys.readouterr().err and third["phases"][0]["reused"] == []


def test_a_non_finite_stored_smc_result_is_recomputed_with_a_warning(tmp_path, capsys):
    import dataclasses

    from comparisons.contracts import package_versions
    from comparisons.jobs.free_energy import SMC_VERSIONS
    from comparisons.sweep import ResultStore

    out = tmp_path / "fe"
    argv = ["free-energy", "--features", "4", "--n", "20", "--particles", "30", "--runs", "2", "--mutation-steps",
            "2", "--out", str(out), "--no-progress", "--yes", "--executor", "inline"]
    assert main(argv) == 0
    ref = (out / "free_energy.csv").read_text()
    store = ResultStore(out / "tasks", result_format=1, versions=package_versions(*SMC_VERSIONS))
    from comparisons.jobs.free_energy import smc_tasks

    from comparisons.jobs.configs import SMCConfig

    (task,) = smc_tasks(SMCConfig(features=4, ns=(20,), seed=0, particles=30, runs=2, mutation_steps=2))
    good = store.load(task)
    store.write(task, dataclasses.replace(good, log_evidence=good.log_evidence * np.nan))  # sealed, but NaN
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: task 'smc n=20'" in err and "finite log_evidence" in err and "recomputing" in err
    assert (out / "free_energy.csv").read_text().split("\n")[1].split(",")[:3] == ref.split("\n")[1].split(",")[:3]


# -- 3. two runs into one folder ------------------------------------------------------------------

_HOLD = """
import sys, time
from pathlib import Path
import bayes_tms.pt as pt
from bayes_tms.pt import PTConfig
from comparisons.jobs.bayes_pt import run_pt

out, go = Path(sys.argv[1]), Path(sys.argv[2])
real = pt.save_state

def save_then_wait(state, path):
    real(state, path)
    print("holding", flush=True)
    while not go.exists():  # mid-run, with the folder's lock held, until the test says go
        time.sleep(0.05)

pt.save_state = save_then_wait
run_pt(PTConfig(**%r, bootstrap=20), out, progress=False, chunk=4)
print("done", flush=True)
"""


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_first(tmp_path):
    out, go = tmp_path / "D", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", _HOLD % TINY, str(out), str(go)], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "holding", first.stderr.read()
        second = subprocess.run([sys.executable, "-m", "comparisons.cli", *PT_CLI, "--out", str(out)],
                                env=_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        line = _one_error_line(second.stderr)
        assert f"pid {first.pid}" in line and str(out) in line and "wait for it" in line
        assert not (out / DONE_FILE).exists()  # the second run wrote nothing of its own
    finally:
        go.touch()
        out_text, err_text = first.communicate(timeout=120)
    assert first.returncode == 0 and out_text.strip().endswith("done"), err_text
    for n in TINY["ns"]:  # the first run's outputs are whole
        post = validate_posterior(out / f"posterior_n{n:05d}.nc").posterior
        assert np.isfinite(post["W"].values).all()
    assert json.loads(json.loads((out / DONE_FILE).read_text())["config"])["classifier"] == OCCUPANCY_RULE
    assert folder_mod.read_owner(out)["status"] == "finished"
    assert (out / folder_mod.LOCK_FILE).read_text() == ""  # released


def test_a_lock_left_by_a_dead_process_is_taken_over(pt_folder, tmp_path, capsys):
    import socket

    out = _copy(pt_folder, tmp_path / "D")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)
    (out / folder_mod.LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                        "command": "tms-phases bayes (killed)"}))
    res = run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    assert res.cached
    assert f"taking over the lock of pid {pid}" in capsys.readouterr().err


# -- 4. disk full and unwritable paths -----------------------------------------------------------


def _enospc_after(monkeypatch, calls: int) -> list:
    """Make the ``calls``-th flush of :mod:`comparisons.io` (and every later one) fail with ENOSPC."""
    seen = []
    real = io_mod._sync

    def sync(path):
        seen.append(path)
        if len(seen) >= calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path)

    monkeypatch.setattr(io_mod, "_sync", sync)
    return seen


@pytest.mark.parametrize("calls", [1, 3])
def test_disk_full_during_a_cached_rerun_keeps_every_stored_file(pt_folder, tmp_path, monkeypatch, capsys, calls):
    out = _copy(pt_folder, tmp_path / "D")
    before = _bytes(out)
    _enospc_after(monkeypatch, calls)
    with pytest.raises(io_mod.StorageError) as info:
        run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    msg = str(info.value)
    assert "No space left on device" in msg and "\n" not in msg and "kept" in msg
    after = _bytes(out)
    assert {k: v for k, v in after.items() if k != "owner.json"} == \
        {k: v for k, v in before.items() if k != "owner.json"}
    assert not list(out.glob(".*.tmp")) and not list(out.glob("*.tmp"))
    monkeypatch.undo()
    assert run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False).cached


def test_disk_full_on_the_command_line_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    out = tmp_path / "S"
    assert main([*SGD_CLI, "--out", str(out)]) == 0
    before = _bytes(out)
    capsys.readouterr()
    _enospc_after(monkeypatch, 1)
    assert main([*SGD_CLI, "--out", str(out), "--force"]) == 2  # the store's write fails: stop at once
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and "free some space" in line
    assert _bytes(out)["trajectory.nc"] == before["trajectory.nc"]
    assert not [p for p in out.rglob("*.tmp")]


def test_disk_full_while_sampling_leaves_no_partial_file_and_the_rerun_completes(tmp_path, monkeypatch):
    out = tmp_path / "D"
    _enospc_after(monkeypatch, 4)  # owner record, config.json, then the first PT checkpoint ...
    with pytest.raises(io_mod.StorageError):
        run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False, chunk=4)
    assert not (out / DONE_FILE).exists() and not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    res = run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False, chunk=4)
    assert not res.cached and (out / DONE_FILE).exists()


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def test_a_real_full_filesystem(tmp_path, pt_folder):
    """A 400 kB tmpfs, mostly filled: the CLI says so on one line, and nothing half-written stays."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a size-limited tmpfs here (needs root and mount rights)")
    try:
        out = _copy(pt_folder, mnt / "D")
        before = _bytes(out)
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(free - 6000, 0))
        proc = subprocess.run([sys.executable, "-c",
                               "import sys; from bayes_tms.pt import PTConfig; from comparisons.jobs.bayes_pt "
                               "import run_pt; from comparisons.errors import InputError\n"
                               f"try:\n    run_pt(PTConfig(**{TINY!r}, bootstrap=20), sys.argv[1], progress=False)\n"
                               "except InputError as e:\n    print('error:', e, file=sys.stderr); sys.exit(2)",
                               str(out)], env=_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "No space left on device" in _one_error_line(proc.stderr)
        after = _bytes(out)
        for name in PT_FILES[:4]:
            assert after[name] == before[name]
        assert not list(out.glob(".*.tmp"))
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_read_only_folder_is_one_line(tmp_path, pt_folder, capsys):
    out = _copy(pt_folder, tmp_path / "D")
    if not (_mount("--bind", str(out), str(out)) and _mount("-o", "remount,bind,ro", str(out))):
        subprocess.run(["umount", str(out)], capture_output=True)
        pytest.skip("cannot make a read-only bind mount here")
    try:
        before = _bytes(out)
        assert main([*PT_CLI, "--out", str(out)]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "Read-only file system" in line and str(out) in line
        assert _bytes(out) == before
    finally:
        subprocess.run(["umount", str(out)], capture_output=True)


def test_a_folder_where_a_file_is_expected_keeps_the_stored_files(pt_folder, tmp_path):
    out = _copy(pt_folder, tmp_path / "D")
    (out / "occupancy.csv").unlink()
    (out / "occupancy.csv").mkdir()
    before = _bytes(out)
    with pytest.raises(io_mod.StorageError, match="occupancy.csv: expected to write it, got Is a directory"):
        run_pt(PTConfig(**TINY, bootstrap=20), out, progress=False)
    assert {k: v for k, v in _bytes(out).items() if k != "owner.json"} == \
        {k: v for k, v in before.items() if k != "owner.json"}


# -- this bad folder inputs on the command line (issue 21, items 1-4) -------------------------


def _owned_by(job: str):
    def setup(out: Path) -> None:
        out.mkdir(parents=True)
        (out / folder_mod.OWNER_FILE).write_text(json.dumps({"job": job, "command": f"tms-phases {job} --out D",
                                                              "config_hash": "0123456789abcdef", "outputs": []}))
    return setup


def _legacy(name: str):
    def setup(out: Path) -> None:
        out.mkdir(parents=True)
        (out / name).write_text("{}")
    return setup


def _garbage_owner(out: Path) -> None:
    out.mkdir(parents=True)
    (out / folder_mod.OWNER_FILE).write_text("{oops")


def _file_at_out(out: Path) -> None:
    out.write_text("a file")


PT_STUDY_CLI = [*PT_CLI, "--datasets", "2"]
FREE_CLI = ["free-energy", "--features", "4", "--n", "100,200", "--particles", "20", "--runs", "2",
            "--mutation-steps", "2", "--no-progress", "--yes"]
REPRO_CLI = ["reproduce", "--preset", "tiny", "--no-progress", "--yes"]
LLC_MEASURE = ["llc", "--measure-phases", "-c", "4", "--phases", "4", "--yes"]

#: (name, setup of the folder, argv, text the one error line must hold)
FOLDER_CASES = [
    ("nuts into a pt folder", _owned_by("bayes --sampler pt"), NUTS_CLI, "`bayes --sampler pt`"),
    ("pt into a nuts folder", _owned_by("bayes --sampler nuts"), PT_CLI, "`bayes --sampler nuts`"),
    ("pt study into a pt run", _owned_by("bayes --sampler pt"), PT_STUDY_CLI, "`bayes --sampler pt`"),
    ("pt run into a pt study", _owned_by("bayes --sampler pt --datasets"), PT_CLI, "--datasets`"),
    ("sgd into a pt folder", _owned_by("bayes --sampler pt"), SGD_CLI, "`bayes --sampler pt`"),
    ("free-energy into an sgd folder", _owned_by("sgd"), FREE_CLI, "`sgd`"),
    ("reproduce into a bayes folder", _owned_by("bayes --sampler nuts"), REPRO_CLI, "`bayes --sampler nuts`"),
    ("measure-phases into a reproduce folder", _owned_by("reproduce"), LLC_MEASURE, "`reproduce`"),
    ("nuts into an old pt folder", _legacy("done.json"), NUTS_CLI, "before owner records"),
    ("pt into an old nuts folder", _legacy("log_mass.csv"), PT_CLI, "`bayes --sampler nuts`"),
    ("pt into an old sgd folder", _legacy("trajectory.nc"), PT_CLI, "`sgd`"),
    ("sgd into an old study", _legacy("switch_summary.csv"), SGD_CLI, "--datasets`"),
    ("nuts into a damaged owner record", _garbage_owner, NUTS_CLI, "unreadable owner record"),
    ("out is a file", _file_at_out, PT_CLI, "File exists"),
]


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail loudly if a refused case reaches sampling or training."""
    import bayes_tms.pt as pt
    import comparisons.sweep as sweep
    import comparisons.sweep.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("work started in a folder that should have been refused")

    for mod, name in ((runner, "run_sweep"), (sweep, "run_sweep"), (pt, "sample_tms_pt")):
        monkeypatch.setattr(mod, name, refuse)


@pytest.mark.parametrize("name, setup, argv, fragment", FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_cli_refuses_a_folder_of_another_job_on_one_line(name, setup, argv, fragment, tmp_path, capsys,
                                                         no_sampling):
    out = tmp_path / "D"
    setup(out)
    before = _bytes(out) if out.is_dir() else None
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert fragment in line and str(out) in line
    assert (_bytes(out) if out.is_dir() else None) == before
    if argv[0] != "reproduce":  # refused before the cost estimate, not after it
        assert "estimated cost" not in err, err


def test_cli_refuses_an_out_below_a_file(tmp_path, capsys, no_sampling):
    (tmp_path / "F").write_text("a file where a folder is expected")
    assert main([*PT_CLI, "--out", str(tmp_path / "F" / "sub")]) == 2
    assert "Not a directory" in _one_error_line(capsys.readouterr().err)


def test_cli_refuses_a_folder_held_by_a_live_process(tmp_path, capsys, no_sampling):
    out = tmp_path / "D"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, json, os, sys, time\n"
         f"fd = os.open({str(out / folder_mod.LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, json.dumps({'pid': os.getpid(), 'host': 'h', 'command': 'tms-phases sgd --out D'}).encode())\n"
         "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main([*NUTS_CLI, "--out", str(out)]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert f"pid {holder.pid}" in line and "tms-phases sgd --out D" in line
    finally:
        holder.kill()
        holder.wait()


def test_the_folder_table_covers_every_job():
    jobs = {c[2][0] if c[2][0] != "bayes" else ("nuts" if "nuts" in c[2] else "pt") for c in FOLDER_CASES}
    assert jobs == {"pt", "nuts", "sgd", "free-energy", "reproduce", "llc"}
    assert len(FOLDER_CASES) >= 14
