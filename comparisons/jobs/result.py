"""What a job did, in one type for every job: its files, its timings, whether it reused results, its status.

Every job of :mod:`comparisons.jobs` returns a :class:`JobResult`; ``tms-phases reproduce`` reads
the timings and the cached flag from it (no file is read back for them), and the command line
prints from its ``summary`` and exits with its ``status``.
"""

from __future__ import annotations

__all__ = ["JobResult", "recording"]

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import io as _io


@dataclass(frozen=True)
class JobResult:
    """The outcome of one job.

    Attributes
    ----------
    job : str
        The job (the command that runs it, e.g. ``"bayes --sampler nuts"``).
    folder : Path
        Its output folder.
    status : int
        Exit status (0: done; 1: nothing to analyse; 2: bad input; as the command line exits).
    files : tuple of Path
        The files this call wrote (atomically, through :mod:`comparisons.io`), in order.
    wall_s : float
        Seconds this call took.
    compute_s : float
        Seconds of computation behind the results (results reused from an earlier run count with
        the time they took then); NaN where the job does not know it.
    cached : bool
        Some or all results were computed by an earlier run and reused.
    summary : mapping
        The job's own numbers for the command line's summary (switches, divergences, ...).
    """

    job: str
    folder: Path
    status: int = 0
    files: tuple[Path, ...] = ()
    wall_s: float = math.nan
    compute_s: float = math.nan
    cached: bool = False
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The seconds behind the results: ``compute_s`` when they were reused, else this call's ``wall_s``."""
        return self.compute_s if self.cached and math.isfinite(self.compute_s) else self.wall_s


class _Recorder:
    def __init__(self, job: str, folder: str | Path):
        self.job, self.folder, self.files = job, Path(folder), []
        self.t0 = time.perf_counter()

    def result(self, *, status: int = 0, compute_s: float | None = None, cached: bool = False,
               summary: Mapping[str, Any] | None = None) -> JobResult:
        """The :class:`JobResult` of the job so far (the files written and the time since it started)."""
        return JobResult(self.job, self.folder, int(status), tuple(dict.fromkeys(self.files)),
                         time.perf_counter() - self.t0, math.nan if compute_s is None else float(compute_s),
                         bool(cached), dict(summary or {}))


@contextlib.contextmanager
def recording(job: str, folder: str | Path) -> Iterator[_Recorder]:
    """Collect the files a job writes and its wall time; ``.result(...)`` makes its :class:`JobResult`."""
    rec = _Recorder(job, folder)
    listener = rec.files.append
    _io.OUTPUT_LISTENERS.append(listener)
    try:
        yield rec
    finally:
        _io.OUTPUT_LISTENERS.remove(listener)
