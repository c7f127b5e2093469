"""Fault-tolerant sweeps: tasks keyed by their configuration, a results store, executors.

A study is a grid of independent tasks (n x chain blocks, run blocks, checkpoint blocks). Each
:class:`Task` is hashed with the versions that change its result (:func:`task_key`); its result
is written atomically into a :class:`ResultStore`; :func:`run_sweep` skips intact results,
recomputes missing or corrupt ones in-process, on a process pool or on Dask distributed, retries
failures and returns every result in task order.

This package imports neither torch nor PyMC; Dask is imported only when asked for.
"""

from .runner import (EXECUTORS, SweepInterrupted, SweepResult, TaskFailure, default_workers,
                     report_failures, run_sweep)
from .options import add_sweep_arguments, check_scheduler, pool_when_asked, sweep_kwargs
from .store import STORE_FORMAT, ResultStore, intact_tasks
from .task import Task, canonical_json, task_key

__all__ = [
    "EXECUTORS", "STORE_FORMAT", "ResultStore", "SweepInterrupted", "SweepResult", "Task",
    "TaskFailure", "add_sweep_arguments", "canonical_json", "check_scheduler", "default_workers", "intact_tasks",
    "pool_when_asked", "report_failures",
    "run_sweep", "sweep_kwargs", "task_key",
]
