"""Task functions for the sweep tests, and a small sweep run as a subprocess.

Used as a module (``import sweep_worker``; the process and Dask executors pickle its functions
by name) and as a script::

    python tests/sweep_worker.py OUT EXECUTOR   # 12 tasks into OUT/store, assembled OUT/final.npz
    python tests/sweep_worker.py cli ARGS...    # comparisons.cli.main(ARGS), with the faults below

Environment: ``SWEEP_TEST_SLEEP`` seconds slept per task (default 0), ``SWEEP_TEST_LOG`` a file
that gets one line per computed task. Neither enters a task's configuration, so neither changes
its key or its result.

Faults at a deterministic point (no timing): ``SWEEP_TEST_KILL_AFTER=K`` SIGKILLs the whole
process group (the sweep and its pool workers) right after the K-th result is sealed in the
store; ``SWEEP_TEST_KILL_BEFORE_SEAL=K`` does so after the K-th payload is written but before
its seal; ``SWEEP_TEST_INT_AFTER=K`` sends SIGINT (Ctrl-C) to the sweep after the K-th seal.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np


def _log(task) -> None:
    log = os.environ.get("SWEEP_TEST_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{task.name}\n")


def seeded_result(task):
    """A seeded numpy result: a Dataset for ``kind == "dataset"``, else a dict of arrays."""
    time.sleep(float(os.environ.get("SWEEP_TEST_SLEEP", "0")))
    rng = np.random.default_rng(int(task.config.get("seed", 0)))
    n = int(task.config["n"])
    x = rng.normal(size=(3, 4)) * n
    _log(task)
    if task.config.get("kind") == "dataset":
        import xarray as xr

        return xr.Dataset({"x": (("run", "feature"), x)}, coords={"run": np.arange(3)},
                          attrs={"n": n, "seed": str(task.config.get("seed", 0))})
    return {"x": x, "n": np.int64(n)}


def flaky(task):
    """Raise the first time (creating the marker file of ``config["marker"]``), then succeed."""
    marker = Path(task.config["marker"])
    if not marker.exists():
        marker.write_text("failed once\n")
        raise RuntimeError(f"transient failure of {task.name}")
    return seeded_result(task)


def sometimes_fails(task):
    """Always raise for ``config["fail"]``; an ordinary seeded result otherwise."""
    if task.config.get("fail"):
        raise ValueError(f"task {task.name} cannot\nwork")
    return seeded_result(task)


def make_tasks(count: int = 12):
    from comparisons.sweep import Task
    from comparisons.theory import child_seed

    return [Task(f"n={100 * (i + 1)}", {"n": 100 * (i + 1), "kind": "dataset" if i % 3 == 0 else "arrays",
                                        "seed": child_seed(7, "task", i)}) for i in range(count)]


def assemble(results) -> np.ndarray:
    """Stack the ``x`` of every result (Dataset or dict) into one array."""
    return np.stack([np.asarray(r["x"]) for r in results])


def install_faults() -> None:
    """Patch the results store to kill or interrupt this process at the point the env asks for."""
    from comparisons.sweep import store as store_mod

    kill_after = int(os.environ.get("SWEEP_TEST_KILL_AFTER", "0"))
    kill_before_seal = int(os.environ.get("SWEEP_TEST_KILL_BEFORE_SEAL", "0"))
    int_after = int(os.environ.get("SWEEP_TEST_INT_AFTER", "0"))
    if not (kill_after or kill_before_seal or int_after):
        return
    writes = [0]
    write, write_json = store_mod.ResultStore.write, store_mod.write_json

    def sealing(path, obj):
        if kill_before_seal and writes[0] + 1 == kill_before_seal and Path(path).parent.name == "results":
            os.killpg(os.getpgid(0), signal.SIGKILL)  # payload on disk, no seal
        return write_json(path, obj)

    def counted_write(self, task, value, **info):
        out = write(self, task, value, **info)
        writes[0] += 1
        if kill_after and writes[0] == kill_after:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        if int_after and writes[0] == int_after:
            signal.raise_signal(signal.SIGINT)
        return out

    store_mod.write_json = sealing
    store_mod.ResultStore.write = counted_write


def main(argv=None) -> int:
    from comparisons.errors import InputError
    from comparisons.io import atomic_path
    from comparisons.sweep import ResultStore, SweepInterrupted, run_sweep

    argv = list(sys.argv[1:] if argv is None else argv)
    install_faults()
    if argv[0] == "cli":
        from comparisons.cli import main as cli_main

        return cli_main(argv[1:])
    out, executor = argv[:2]
    try:
        store = ResultStore(Path(out) / "store", result_format=1, versions={"numpy": np.__version__})
        result = run_sweep(make_tasks(), seeded_result, store, executor=executor, workers=2,
                           progress=False)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SweepInterrupted:
        return 130
    if result.ok:
        with atomic_path(Path(out) / "final.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=assemble(result.results))
    return result.exit_status()


def dies_once(task):
    """Kill the worker process the first time (marker file), then succeed."""
    if task.config.get("die") and not Path(task.config["marker"]).exists():
        marker = Path(task.config["marker"])
        marker.write_text("died once\n")
        os._exit(3)
    return seeded_result(task)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
