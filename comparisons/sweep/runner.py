"""Run a list of tasks into a :class:`ResultStore`, skipping what is already there.

:func:`run_sweep` is the one driver loop of every sweep of the project: it skips each task whose
result is intact, computes the others in-process, on a local process pool or on Dask
distributed, retries a task that raises, records the failures and finishes the rest. Results
are always read back from the store, so the outputs of a resumed sweep are those of an
uninterrupted one, whatever executor computed them.
"""

from __future__ import annotations

__all__ = ["run_sweep", "SweepResult", "TaskFailure", "SweepInterrupted", "report_failures",
           "default_workers", "EXECUTORS"]

import concurrent.futures as cf
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence, TextIO

from ..errors import InputError, check_positive_int
from ..io import StorageError
from .store import ResultStore
from .task import Task

EXECUTORS = ("auto", "inline", "process", "dask")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; finished results are kept and a re-run resumes."""


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised on every attempt.

    Attributes
    ----------
    name, key : str
        The task's name and its key in the store.
    attempts : int
        How many times it was run.
    error : str
        ``"ExceptionType: message"`` of the last attempt, on one line.
    traceback : str
        Full traceback of the last attempt, as formatted in the worker.
    """

    name: str
    key: str
    attempts: int
    error: str
    traceback: str = ""

    def summary(self) -> str:
        """One line: which task failed, after how many attempts, and why."""
        return f"task {self.name!r} failed after {self.attempts} attempt(s): {self.error}"


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes
    ----------
    tasks : tuple of Task
        In the order given.
    results : tuple
        The result of each task read back from the store (``None`` for a failed task, or for
        every task when ``load=False``).
    paths : tuple of Path or None
        Payload file of each task (``None`` for a failed task).
    failures : tuple of TaskFailure
    computed, reused : tuple of str
        Names of the tasks computed by this call and of those found intact in the store.
    store : ResultStore
    compute_s : tuple of float or None
        Seconds each task's result took to compute, read from its seal (so a result reused from
        an earlier run reports the time it took then); None for a failed task.
    """

    tasks: tuple[Task, ...]
    results: tuple[Any, ...]
    paths: tuple[Path | None, ...]
    failures: tuple[TaskFailure, ...]
    computed: tuple[str, ...]
    reused: tuple[str, ...]
    store: ResultStore = field(repr=False)
    compute_s: tuple[float | None, ...] = ()

    @property
    def total_compute_s(self) -> float:
        """Seconds of computation behind every result (this call's and the reused ones)."""
        return float(sum(s for s in self.compute_s if s is not None))

    @property
    def ok(self) -> bool:
        """True if no task failed."""
        return not self.failures

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.results)

    def exit_status(self, file: TextIO | None = None) -> int:
        """Print one line per failure (to stderr by default) and return 0, or 1 if any failed."""
        return report_failures(self, file=file)


def report_failures(result: SweepResult, file: TextIO | None = None) -> int:
    """Print a one-line summary per failed task and return the exit status (0 ok, 1 failures)."""
    file = sys.stderr if file is None else file
    for failure in result.failures:
        print(f"error: {failure.summary()}", file=file)
    if result.failures:
        print(f"error: {len(result.failures)} of {len(result.tasks)} tasks failed; the others are "
              f"in {result.store.path}; re-run to retry the failed ones", file=file)
        return 1
    return 0


def default_workers() -> int:
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


# -- the work done in a worker ------------------------------------------------------------------
class _Outcome(NamedTuple):
    ok: bool
    value: Any
    error: str
    traceback: str
    elapsed: float
    final: bool = False  # bad input (InputError): the same again on every attempt, not retried


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _call(fn: Callable[[Task], Any], task: Task) -> _Outcome:
    """Run ``fn(task)`` and catch what it raises (exceptions need not be picklable)."""
    start = time.perf_counter()
    try:
        value = fn(task)
    except Exception as exc:
        return _Outcome(False, None, _one_line(exc), traceback.format_exc(), time.perf_counter() - start,
                        final=isinstance(exc, InputError))
    return _Outcome(True, value, "", "", time.perf_counter() - start)


def _worker_init() -> None:
    """Process-pool workers leave Ctrl-C to the parent, which stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the driver ---------------------------------------------------------------------------------
class _Book:
    """Attempts, failures and progress of one sweep (lives in the parent process)."""

    def __init__(self, tasks, store, retries, bar, validate=None):
        self.tasks, self.store, self.retries, self.bar = tasks, store, retries, bar
        self.validate = validate
        self.attempts = [0] * len(tasks)
        self.failures: dict[int, TaskFailure] = {}
        self.computed: list[int] = []

    def settle(self, i: int, out: _Outcome) -> bool:
        """Record the outcome of an attempt at task ``i``; True if it should be retried."""
        task = self.tasks[i]
        self.attempts[i] += 1
        if out.ok and self.validate is not None:
            try:
                self.validate(task, out.value)
            except Exception as exc:  # an incomplete or non-finite result is never stored
                out = _Outcome(False, None, f"invalid result: {_one_line(exc)}",
                               traceback.format_exc(), out.elapsed)
        if out.ok:
            try:
                self.store.write(task, out.value, elapsed_s=round(out.elapsed, 6), attempts=self.attempts[i])
            except StorageError:  # disk full or unwritable: every later task would fail the same way
                raise
            except Exception as exc:  # unserialisable result...
                out = _Outcome(False, None, f"could not store the result: {_one_line(exc)}",
                               traceback.format_exc(), out.elapsed)
            else:
                self.computed.append(i)
                self.bar.update(1)
                return False
        if self.attempts[i] <= self.retries and not out.final:
            self.bar.write(f"warning: task {task.name!r} attempt {self.attempts[i]} failed "
                           f"({out.error}); retrying", file=sys.stderr)
            return True
        self.failures[i] = TaskFailure(task.name, self.store.key(task), self.attempts[i], out.error,
                                       out.traceback)
        self.bar.write(f"error: {self.failures[i].summary()}", file=sys.stderr)
        self.bar.update(1)
        return False


def _run_inline(fn, todo, book) -> None:
    for i in todo:
        while book.settle(i, _call(fn, book.tasks[i])):
            pass


def _run_pool(fn, todo, book, make_executor, close_executor) -> None:
    """Drive a ``concurrent.futures`` executor; rebuild it if a worker process dies."""
    executor = make_executor()
    in_flight: dict[cf.Future, int] = {}
    try:
        for i in todo:
            in_flight[executor.submit(_call, fn, book.tasks[i])] = i
        while in_flight:
            done, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
            again: list[int] = []
            broken = False
            for fut in done:
                i = in_flight.pop(fut)
                try:
                    out = fut.result()
                except cf.process.BrokenProcessPool as exc:
                    broken = True
                    out = _Outcome(False, None, f"worker process died ({_one_line(exc)})", "", 0.0)
                except cf.CancelledError as exc:
                    out = _Outcome(False, None, f"cancelled ({_one_line(exc)})", "", 0.0)
                except Exception as exc:  # result not picklable, Dask worker lost, ...
                    out = _Outcome(False, None, _one_line(exc), traceback.format_exc(), 0.0)
                if book.settle(i, out):
                    again.append(i)
            if broken:  # every task in flight is lost with the pool: count and resubmit it
                for fut, i in list(in_flight.items()):
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        out = fut.result()  # finished just before the pool broke
                    else:
                        out = _Outcome(False, None, "worker process died", "", 0.0)
                    if book.settle(i, out):
                        again.append(i)
                in_flight.clear()
                close_executor(executor, cancel=True)
                executor = make_executor()
            for i in again:
                in_flight[executor.submit(_call, fn, book.tasks[i])] = i
    except BaseException:
        for fut in in_flight:
            fut.cancel()
        close_executor(executor, cancel=True)
        raise
    close_executor(executor, cancel=False)


def _process_pool(workers: int):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")

    def make():
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)

    def close(executor, cancel):
        if not cancel:
            executor.shutdown(wait=True)
            return
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # running tasks are abandoned: their results would be discarded
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=10)

    return make, close


def _dask_client(scheduler: Any, workers: int):
    """Return ``(client, owned)``: connect to ``scheduler`` or start a local cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("executor 'dask': expected the optional extra installed "
                         "(pip install 'tms-phases[dask]'), got no module 'distributed'") from None
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, False  # a Client made by the caller
    if scheduler is None or scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), True
    try:
        return Client(scheduler, timeout="30s"), True
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler: expected a reachable Dask scheduler, got {scheduler!r} "
                         f"({_one_line(exc)})") from None


def _dask_pool(client):
    def make():
        return client.get_executor(pure=False)

    def close(executor, cancel):
        executor.shutdown(wait=not cancel)

    return make, close


def run_sweep(tasks: Sequence[Task], fn: Callable[[Task], Any], store: ResultStore | str | os.PathLike,
              *, executor: str = "auto", workers: int | None = None, scheduler: Any = None,
              retries: int = 2, progress: bool = True, load: bool = True,
              desc: str = "sweep", validate: Callable[[Task, Any], None] | None = None) -> SweepResult:
    """Compute every task whose result is not intact in ``store``, then return all results.

    Parameters
    ----------
    tasks : sequence of Task
        Distinct tasks; results come back in this order.
    fn : callable
        ``fn(task) -> result``: an xarray Dataset/DataTree (stored as netCDF), a dict of numpy
        arrays (``.npz``) or any picklable object (pickle). It must be importable by name
        (a module-level function) for the process and Dask executors, and draw every random
        number from seeds in ``task.config``.
    store : ResultStore or path
        Where results live (a path opens ``ResultStore(path)`` with default versions).
    executor : {"auto", "inline", "process", "dask"}
        ``inline`` runs in this process; ``process`` on a spawn-context process pool; ``dask``
        on Dask distributed (``scheduler`` address, or a local cluster). ``auto``: ``dask`` if a
        scheduler is given, else ``inline`` when at most one task is to be computed or one
        worker is asked for, else ``process``.
    workers : int, optional
        Worker processes (default: the usable CPU cores, at most the number of tasks to run).
    scheduler : str or distributed.Client, optional
        Dask scheduler address (``"tcp://host:8786"``), ``"local"`` for a local cluster, or a
        ready ``Client``.
    retries : int, default 2
        Extra attempts for a task that raises (a worker that dies counts as an attempt for each
        task it had in flight). A task raising :class:`~comparisons.errors.InputError` (bad input:
        it would fail the same way again) is not retried.
    progress : bool, default True
        Show a tqdm bar on stderr.
    load : bool, default True
        Read every result back from the store into ``SweepResult.results``.
    desc : str
        Label of the progress bar.
    validate : callable, optional
        ``validate(task, result)`` raises if ``result`` must not count as finished (NaN draws,
        missing chains, too few draws). It runs on every freshly computed result before it is
        written (a failing one is an ordinary failed attempt, retried and never stored) and on
        every intact stored result before it is reused (a failing one is removed and recomputed,
        with a warning naming the task).

    Returns
    -------
    SweepResult
        Results in task order and the failures; see :func:`report_failures` for the exit status.

    Raises
    ------
    InputError
        On bad arguments (raised before any work starts).
    SweepInterrupted
        On Ctrl-C, after cancelling pending work and stopping the workers; finished results stay
        in the store and a re-run resumes from them.
    """
    tasks = _check_tasks(tasks)
    if not callable(fn):
        raise InputError(f"fn: expected a callable fn(task), got {type(fn).__name__}")
    if validate is not None and not callable(validate):
        raise InputError(f"validate: expected a callable validate(task, result), got {type(validate).__name__}")
    if executor not in EXECUTORS:
        raise InputError(f"executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None:
        workers = check_positive_int("workers", workers)
    retries = check_positive_int("retries", retries, minimum=0)
    if scheduler is not None:
        if executor in ("inline", "process"):
            raise InputError(f"scheduler: expected none with executor {executor!r}, got {scheduler!r}")
        if isinstance(scheduler, str) and not scheduler.strip():
            raise InputError("scheduler: expected a Dask scheduler address or 'local', got ''")
        if not isinstance(scheduler, str) and not hasattr(scheduler, "get_executor"):
            raise InputError(f"scheduler: expected an address or a distributed.Client, got "
                             f"{type(scheduler).__name__}")
    if not isinstance(store, ResultStore):
        store = ResultStore(store)

    from tqdm.auto import tqdm

    store.acquire()
    bar = None
    client = owned = None
    book = None
    todo: list[int] = list(range(len(tasks)))
    try:
        reused = [i for i, t in enumerate(tasks) if _intact(t, store)]
        if validate is not None:
            reused = [i for i in reused if _still_valid(tasks[i], store, validate)]
        todo = [i for i in range(len(tasks)) if i not in set(reused)]
        n_workers = min(workers or default_workers(), max(len(todo), 1))
        kind = executor
        if kind == "auto":
            kind = "dask" if scheduler is not None else (
                "inline" if len(todo) <= 1 or n_workers == 1 else "process")
        bar = tqdm(total=len(tasks), initial=len(reused), desc=desc, unit="task",
                   disable=not progress, file=sys.stderr)
        book = _Book(tasks, store, retries, bar, validate)
        if todo:
            if kind == "inline":
                _run_inline(fn, todo, book)
            elif kind == "process":
                _check_picklable(fn)
                _run_pool(fn, todo, book, *_process_pool(n_workers))
            else:
                client, owned = _dask_client(scheduler, n_workers)
                _run_pool(fn, todo, book, *_dask_pool(client))
    except KeyboardInterrupt:
        done = len(tasks) - len(todo) + (len(book.computed) if book is not None else 0)
        msg = (f"sweep interrupted: {done} of {len(tasks)} results are kept in {store.path}; "
               f"re-run the same command to resume")
        if bar is not None:
            bar.close()
        print(msg, file=sys.stderr)
        raise SweepInterrupted(msg) from None
    finally:
        if bar is not None:
            bar.close()
        if owned:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        store.release()

    failed = book.failures
    results = tuple(None if i in failed or not load else store.load(t) for i, t in enumerate(tasks))
    paths = tuple(None if i in failed else store.path_of(t) for i, t in enumerate(tasks))
    compute_s = tuple(None if i in failed else _elapsed(store.info(t)) for i, t in enumerate(tasks))
    return SweepResult(tasks=tasks, results=results, paths=paths,
                       failures=tuple(failed[i] for i in sorted(failed)),
                       computed=tuple(tasks[i].name for i in sorted(book.computed)),
                       reused=tuple(tasks[i].name for i in reused), store=store, compute_s=compute_s)


def _elapsed(seal: dict) -> float | None:
    value = seal.get("elapsed_s")
    return float(value) if isinstance(value, (int, float)) else None


def _intact(task: Task, store: ResultStore) -> bool:
    """True for an intact stored result; a damaged one is named in a warning (and recomputed)."""
    status = store.status(task)
    if status == "corrupt":
        print(f"warning: task {task.name!r}: stored result is damaged (it does not match its seal in "
              f"{store.results_dir}); recomputing it", file=sys.stderr)
    return status == "intact"


def _still_valid(task: Task, store: ResultStore, validate: Callable[[Task, Any], None]) -> bool:
    """Validate a stored result; remove it (and say so) if it must be recomputed."""
    try:
        validate(task, store.load(task))
    except Exception as exc:
        print(f"warning: task {task.name!r}: stored result is invalid ({_one_line(exc)}); "
              f"recomputing it", file=sys.stderr)
        store.remove(task)
        return False
    return True


def _check_picklable(fn: Callable) -> None:
    import pickle

    try:
        pickle.dumps(fn)
    except Exception:
        raise InputError(f"fn: expected a module-level function for executor 'process', got "
                         f"{getattr(fn, '__qualname__', type(fn).__name__)!r} (not picklable)") from None


def _check_tasks(tasks: Any) -> tuple[Task, ...]:
    if isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__"):
        raise InputError(f"tasks: expected a sequence of Task, got {type(tasks).__name__}")
    tasks = tuple(tasks)
    seen: dict[Task, int] = {}
    for i, t in enumerate(tasks):
        if not isinstance(t, Task):
            raise InputError(f"tasks[{i}]: expected a Task, got {type(t).__name__}")
        if t in seen:
            raise InputError(f"tasks: expected distinct tasks, got {t.name!r} twice "
                             f"(positions {seen[t]} and {i})")
        seen[t] = i
    return tasks
