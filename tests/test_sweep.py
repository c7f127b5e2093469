"""The sweep runner: keys, store, resume after SIGKILL and Ctrl-C, corruption, retries, executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sweep_worker
from comparisons.errors import InputError
from comparisons.sweep import (ResultStore, SweepResult, Task, report_failures,
                               run_sweep, task_key)
from comparisons.sweep.store import MANIFEST_NAME

WORKER = Path(sweep_worker.__file__)
VERSIONS = {"numpy": np.__version__}


def store_at(path) -> ResultStore:
    return ResultStore(path, result_format=1, versions=VERSIONS)


def assert_same(a, b) -> None:
    assert type(a) is type(b)
    if isinstance(a, xr.Dataset):
        xr.testing.assert_identical(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    else:
        assert a == b


def logged(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "computed.log"
    monkeypatch.setenv("SWEEP_TEST_LOG", str(path))
    monkeypatch.delenv("SWEEP_TEST_SLEEP", raising=False)
    return path


# -- tasks and keys ------------------------------------------------------------------------------
def test_key_depends_on_everything_that_changes_a_result_and_nothing_else():
    t = Task("n=100", {"n": 100, "beta": 1.0, "grid": (1, 2), "seed": 3})
    same = Task("n=100", {"grid": [1, 2], "beta": 1.0, "n": np.int64(100), "seed": 3})
    assert t == same and task_key(t) == task_key(same) and len(task_key(t)) == 64
    keys = {task_key(t), task_key(Task("n=100", {**t.config, "n": 200, "seed": 3})),
            task_key(Task("n=100", {**t.config, "seed": 4})), task_key(Task("n=200", t.config)),
            task_key(t, result_format=2), task_key(t, versions={"torch": "2.13.0"})}
    assert len(keys) == 6


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "", "config": {}}, "task name: expected a non-empty string"),
    ({"name": "a", "config": [1]}, "config: expected a dict, got list"),
    ({"name": "a", "config": {"x": float("nan")}}, "expected finite numbers"),
    ({"name": "a", "config": {"x": object()}}, "expected JSON data"),
])
def test_bad_task_is_one_line_input_error(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        Task(**kwargs)
    assert "\n" not in str(info.value)


# -- store ---------------------------------------------------------------------------------------
def test_results_round_trip_in_task_order_and_are_reused(tmp_path, log):
    tasks = sweep_worker.make_tasks(4) + [Task("other", {"n": 1, "kind": "pickle", "seed": 1})]

    def fn(task):  # inline executor: a closure is fine
        return ("a", task.config["seed"]) if task.name == "other" else sweep_worker.seeded_result(task)

    first = run_sweep(tasks, fn, store_at(tmp_path / "s"), executor="inline", progress=False)
    assert first.ok and first.computed == tuple(t.name for t in tasks) and first.reused == ()
    assert isinstance(first.results[0], xr.Dataset) and isinstance(first.results[1], dict)
    assert first.results[4] == ("a", 1)
    assert [p.suffix for p in first.paths] == [".nc", ".npz", ".npz", ".nc", ".pkl"]
    for task, res in zip(tasks[:4], first.results):
        assert_same(res, fn(task) if isinstance(res, xr.Dataset) else
                    {k: np.asarray(v) for k, v in fn(task).items()})
    log.unlink()
    again = run_sweep(tasks, fn, store_at(tmp_path / "s"), executor="inline", progress=False)
    assert again.computed == () and len(again.reused) == 5 and not log.exists()
    for a, b in zip(first.results, again.results):
        assert_same(a, b)


def test_changed_versions_recompute_into_new_keys(tmp_path, log):
    tasks = sweep_worker.make_tasks(2)
    run_sweep(tasks, sweep_worker.seeded_result, store_at(tmp_path), executor="inline", progress=False)
    newer = ResultStore(tmp_path, result_format=1, versions={"numpy": "99"})
    res = run_sweep(tasks, sweep_worker.seeded_result, newer, executor="inline", progress=False)
    assert res.computed == tuple(t.name for t in tasks)


def test_corrupt_results_are_recomputed_and_only_they(tmp_path, log):
    tasks = sweep_worker.make_tasks(5)
    store = store_at(tmp_path)
    first = run_sweep(tasks, sweep_worker.seeded_result, store, executor="inline", progress=False)
    with open(first.paths[0], "r+b") as f:  # truncate a netCDF payload
        f.truncate(f.seek(0, 2) // 2)
    seal = store.seal_path(tasks[2])
    seal.write_text(seal.read_text()[:40])  # truncate a seal
    first.paths[4].unlink()  # lose a payload
    assert [store.status(t) for t in tasks] == ["corrupt", "intact", "corrupt", "intact", "corrupt"]
    mtimes = {i: first.paths[i].stat().st_mtime_ns for i in (1, 3)}
    log.unlink()
    again = run_sweep(tasks, sweep_worker.seeded_result, store, executor="inline", progress=False)
    assert sorted(logged(log)) == sorted(tasks[i].name for i in (0, 2, 4))
    assert again.reused == (tasks[1].name, tasks[3].name)
    assert all(first.paths[i].stat().st_mtime_ns == m for i, m in mtimes.items())
    for a, b in zip(first.results, again.results):
        assert_same(a, b)


def test_intact_tasks_reads_a_store_as_resultstore_does_and_writes_nothing(tmp_path, log):
    from comparisons.sweep import intact_tasks

    tasks = sweep_worker.make_tasks(4)
    missing = tmp_path / "none"
    assert intact_tasks(missing, tasks, result_format=1, versions=VERSIONS) == [False] * 4
    assert not missing.exists()  # read only: no folder, no manifest
    store = store_at(tmp_path / "s")
    first = run_sweep(tasks[:3], sweep_worker.seeded_result, store, executor="inline", progress=False)
    first.paths[1].unlink()  # a lost payload is not stored
    want = [store.status(t) == "intact" for t in tasks]
    assert want == [True, False, True, False]
    assert intact_tasks(tmp_path / "s", tasks, result_format=1, versions=VERSIONS) == want
    assert intact_tasks(tmp_path / "s", tasks, result_format=2, versions=VERSIONS) == [False] * 4  # other keys
    manifest = tmp_path / "s" / MANIFEST_NAME
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "store_format": 0}))
    assert intact_tasks(tmp_path / "s", tasks, result_format=1, versions=VERSIONS) == [False] * 4  # refused store


def test_incompatible_store_format_is_refused(tmp_path):
    store_at(tmp_path)
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "store_format": 0}))
    with pytest.raises(InputError) as info:
        store_at(tmp_path)
    assert str(info.value) == (f"results store at {tmp_path} has format 0, expected 1; "
                               f"use a new --out folder")
    manifest.write_text("{not json")
    with pytest.raises(InputError, match="unreadable sweep-store.json"):
        store_at(tmp_path)


def test_a_store_written_by_another_live_sweep_is_refused(tmp_path):
    store = store_at(tmp_path)
    store.acquire()
    try:
        with pytest.raises(InputError, match="expected no other sweep writing it"):
            other = store_at(tmp_path)
            (tmp_path / "sweep-store.lock").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
            run_sweep(sweep_worker.make_tasks(1), sweep_worker.seeded_result, other, progress=False)
    finally:
        store.release()


# -- faults ---------------------------------------------------------------------------------------
def test_failing_tasks_are_retried_then_reported(tmp_path, log, capsys):
    tasks = [Task("flaky", {"n": 1, "marker": str(tmp_path / "marker"), "seed": 1}),
             Task("doomed", {"n": 2, "fail": True, "seed": 2}),
             Task("fine", {"n": 3, "seed": 3})]

    def fn(task):
        return sweep_worker.flaky(task) if task.name == "flaky" else sweep_worker.sometimes_fails(task)

    res = run_sweep(tasks, fn, store_at(tmp_path / "s"), executor="inline", retries=2, progress=False)
    assert res.computed == ("flaky", "fine") and res.results[1] is None and res.paths[1] is None
    (failure,) = res.failures
    assert failure.name == "doomed" and failure.attempts == 3
    assert failure.error == "ValueError: task doomed cannot work" and "Traceback" in failure.traceback
    capsys.readouterr()
    assert res.exit_status() == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error: task 'doomed' failed after 3 attempt(s): ValueError: task doomed cannot work"
    assert len(lines) == 2 and "1 of 3 tasks failed" in lines[1]
    # a re-run retries only the failed task
    log.unlink()
    again = run_sweep(tasks, fn, store_at(tmp_path / "s"), executor="inline", retries=0, progress=False)
    assert again.computed == () and len(again.failures) == 1 and not log.exists()
    assert report_failures(run_sweep(tasks[2:], fn, store_at(tmp_path / "s"), progress=False)) == 0


def test_process_pool_reports_failures_and_survives_a_dying_worker(tmp_path, log):
    tasks = [Task("dies", {"n": 1, "die": True, "marker": str(tmp_path / "m1"), "seed": 1}),
             Task("doomed", {"n": 2, "fail": True, "seed": 2})] + sweep_worker.make_tasks(2)
    mixed = run_sweep(tasks[1:], sweep_worker.sometimes_fails, store_at(tmp_path / "a"),
                      executor="process", workers=2, retries=1, progress=False)
    assert [f.name for f in mixed.failures] == ["doomed"] and mixed.failures[0].attempts == 2
    assert "cannot work" in mixed.failures[0].error
    died = run_sweep(tasks[:1] + tasks[2:], sweep_worker.dies_once, store_at(tmp_path / "b"),
                     executor="process", workers=2, retries=1, progress=False)
    assert died.ok and (tmp_path / "m1").exists()
    for a, b in zip(mixed.results[1:], died.results[1:]):
        assert_same(a, b)


def _spawn_worker(out: Path, executor: str, log: Path, sleep: float, **fault: int) -> subprocess.Popen:
    """Run the 12-task sweep as a script; ``fault`` (e.g. ``kill_after=4``) stops it at a
    deterministic point (see ``sweep_worker.install_faults``), never after a delay."""
    env = {**os.environ, "SWEEP_TEST_LOG": str(log), "SWEEP_TEST_SLEEP": str(sleep),
           **{f"SWEEP_TEST_{k.upper()}": str(v) for k, v in fault.items()}}
    return subprocess.Popen([sys.executable, str(WORKER), str(out), executor], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _reference(tmp_path) -> SweepResult:
    return run_sweep(sweep_worker.make_tasks(), sweep_worker.seeded_result,
                     store_at(tmp_path / "reference" / "store"), executor="inline", progress=False)


def _check_resumed(tmp_path, out: Path, before: dict[str, int], log2: Path) -> None:
    """The re-run recomputed none of ``before``, and its outputs equal an uninterrupted run."""
    results = out / "store" / "results"
    assert not list(results.glob(".*.tmp"))
    recomputed = set(logged(log2))
    names = {json.loads((results / f"{k}.json").read_text())["task"]["name"] for k in before}
    assert not recomputed & names and len(recomputed) == 12 - len(before)
    assert all((results / f"{k}.json").stat().st_mtime_ns == m for k, m in before.items())
    reference = _reference(tmp_path)
    resumed = run_sweep(sweep_worker.make_tasks(), sweep_worker.seeded_result, store_at(out / "store"),
                        executor="inline", progress=False)
    assert resumed.computed == ()
    for a, b in zip(reference.results, resumed.results):
        assert_same(a, b)
    np.testing.assert_array_equal(np.load(out / "final.npz")["x"],
                                  sweep_worker.assemble(reference.results))


def test_sigkill_part_way_then_rerun_resumes_without_recomputing(tmp_path):
    out = tmp_path / "killed"
    # the sweep SIGKILLs its process group (itself and its pool workers) after the 4th seal
    proc = _spawn_worker(out, "process", tmp_path / "log1", sleep=0.0, kill_after=4)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    results = out / "store" / "results"
    before = {p.stem: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert len(before) == 4 and not (out / "final.npz").exists()
    rerun = _spawn_worker(out, "process", tmp_path / "log2", sleep=0.0)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    _check_resumed(tmp_path, out, before, tmp_path / "log2")


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "interrupted"
    # the sweep gets SIGINT (Ctrl-C) right after its 2nd result is sealed
    proc = _spawn_worker(out, "process", tmp_path / "log1", sleep=0.0, int_after=2)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    results = out / "store" / "results"
    assert proc.returncode == 130, err
    assert "sweep interrupted" in err and "re-run the same command to resume" in err
    assert "Traceback" not in err
    assert not (out / "store" / "sweep-store.lock").exists()
    before = {p.stem: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert len(before) == 2
    rerun = _spawn_worker(out, "inline", tmp_path / "log2", sleep=0.0)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    _check_resumed(tmp_path, out, before, tmp_path / "log2")


# -- executors -----------------------------------------------------------------------------------
def test_dask_local_cluster_matches_process_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    tasks = sweep_worker.make_tasks(6)
    pool = run_sweep(tasks, sweep_worker.seeded_result, store_at(tmp_path / "pool"),
                     executor="process", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask = run_sweep(tasks, sweep_worker.seeded_result, store_at(tmp_path / "dask"),
                         scheduler=client, progress=False)
    assert pool.ok and dask.ok and dask.computed == pool.computed == tuple(t.name for t in tasks)
    for a, b in zip(pool.results, dask.results):
        assert_same(a, b)
    assert [p.name for p in pool.paths] == [p.name for p in dask.paths]  # same keys


# -- inputs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "threads"}, "executor: expected one of auto, inline, process, dask, got 'threads'"),
    ({"retries": -1}, "retries: expected an integer >= 0, got -1"),
    ({"workers": 0}, "workers: expected an integer >= 1, got 0"),
    ({"workers": 1.5}, "workers: expected an integer >= 1, got 1.5"),
    ({"executor": "process", "scheduler": "tcp://h:8786"},
     "scheduler: expected none with executor 'process', got 'tcp://h:8786'"),
])
def test_bad_run_arguments_are_one_line_input_errors(tmp_path, kwargs, message):
    with pytest.raises(InputError) as info:
        run_sweep(sweep_worker.make_tasks(1), sweep_worker.seeded_result, tmp_path, **kwargs)
    assert str(info.value) == message


def test_duplicate_tasks_and_non_tasks_are_refused(tmp_path):
    t = sweep_worker.make_tasks(1)[0]
    with pytest.raises(InputError, match=r"tasks: expected distinct tasks, got 'n=100' twice"):
        run_sweep([t, t], sweep_worker.seeded_result, tmp_path)
    with pytest.raises(InputError, match=r"tasks\[0\]: expected a Task, got dict"):
        run_sweep([{}], sweep_worker.seeded_result, tmp_path)


def test_unwritable_store_path_is_one_line_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError) as info:
        ResultStore(blocker / "store")
    assert str(info.value).startswith("--out: expected a writable folder, got ")
    assert "\n" not in str(info.value)


def test_process_executor_needs_a_picklable_function(tmp_path):
    with pytest.raises(InputError, match="fn: expected a module-level function for executor 'process'"):
        run_sweep(sweep_worker.make_tasks(2), lambda t: 1, tmp_path, executor="process", progress=False)
    assert not (tmp_path / "sweep-store.lock").exists()


# -- result validation and bad-input failures (issue 12) -----------------------------------------
def _reject_big(task, result) -> None:
    if np.asarray(result["x"]).shape == (3, 4) and task.config["n"] >= 300:
        raise ValueError(f"n={task.config['n']}: result rejected")


def test_a_result_that_fails_validation_is_never_stored(tmp_path):
    tasks = sweep_worker.make_tasks(4)
    res = run_sweep(tasks, sweep_worker.seeded_result, store_at(tmp_path), executor="inline",
                    retries=1, progress=False, validate=_reject_big)
    assert [f.name for f in res.failures] == ["n=300", "n=400"]
    assert all(f.attempts == 2 and "invalid result" in f.error and "n=300" in res.failures[0].error
               for f in res.failures)
    store = store_at(tmp_path)
    assert [store.status(t) for t in tasks] == ["intact", "intact", "missing", "missing"]


def test_a_stored_result_that_fails_validation_is_recomputed_with_a_warning(tmp_path, capsys):
    tasks = sweep_worker.make_tasks(4)
    first = run_sweep(tasks, sweep_worker.seeded_result, store_at(tmp_path), executor="inline", progress=False)
    assert first.ok and all(s is not None and s >= 0 for s in first.compute_s)
    calls = []

    def fixed(task):
        calls.append(task.name)
        return sweep_worker.seeded_result(task)

    once = {"n=200"}

    def reject_stored(task, result):  # rejects the stored n=200 once, accepts the recomputed one
        if task.name in once:
            once.discard(task.name)
            raise ValueError("NaN draws")

    again = run_sweep(tasks, fixed, store_at(tmp_path), executor="inline", progress=False,
                      validate=reject_stored)
    assert calls == ["n=200"] and again.ok and again.computed == ("n=200",)
    assert "task 'n=200': stored result is invalid (ValueError: NaN draws); recomputing" in capsys.readouterr().err
    assert again.compute_s[0] == first.compute_s[0]  # a reused result keeps its compute time


def test_a_task_raising_input_error_is_not_retried(tmp_path):
    calls = []

    def bad(task):
        calls.append(task.name)
        raise InputError("features: expected 2 <= c <= 8, got 9")

    res = run_sweep(sweep_worker.make_tasks(1), bad, store_at(tmp_path), executor="inline", retries=2,
                    progress=False)
    assert calls == ["n=100"] and res.failures[0].attempts == 1
