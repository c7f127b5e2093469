"""Atomic file output of the jobs and the reports (the engines write nothing).

Every file the project writes goes through :func:`atomic_path`: the content is written to a
temporary file in the same folder, flushed to the disk (``fsync``) and renamed into place, so an
interrupted run, a full disk or an unwritable path never leaves a half-written result that a
later run could mistake for a finished one: the file that was there before stays as it was. A
failed write raises :class:`StorageError` (an :class:`~comparisons.errors.InputError`, so the
command line prints one line and exits with status 2) naming the file and the reason.

Each finished write is announced to :data:`OUTPUT_LISTENERS` (:func:`record_output`): the
output folders being written (:mod:`comparisons.folder`) learn which files this run wrote.
"""

from __future__ import annotations

__all__ = ["atomic_path", "write_json", "write_text", "write_csv", "write_dataset_csv", "write_dataset_json", "write_netcdf", "save_figure",
           "check_out_path", "check_writable_dir", "StorageError", "record_output", "OUTPUT_LISTENERS"]

import contextlib
import csv
import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InputError

#: called with the path of every file :func:`atomic_path` puts in place (see :func:`record_output`)
OUTPUT_LISTENERS: list[Callable[[Path], None]] = []


class StorageError(InputError):
    """A file could not be written (disk full, read-only or unwritable path); nothing was replaced."""


def record_output(path: str | os.PathLike) -> None:
    """Tell :data:`OUTPUT_LISTENERS` (the output folders being written) that ``path`` was written."""
    for listener in list(OUTPUT_LISTENERS):
        listener(Path(path))


def _sync(path: Path) -> None:
    """Flush the content of the file ``path`` to the disk (a full disk may only show here)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    """Flush the folder ``path`` (the rename into it), where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.ENOSPC: "free some space and re-run the same command",
            errno.EDQUOT: "free some space and re-run the same command",
            errno.EROFS: "use a writable --out"}.get(exc.errno, "check the path, or use another --out")
    return StorageError(f"{path}: expected to write it, got {reason}; files written before are kept; {hint}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; flush it and rename it onto ``path`` if the block succeeds.

    Any :class:`OSError` (disk full, read-only file system, a folder where the file should be)
    becomes a :class:`StorageError` naming ``path``; the temporary file is removed and the file
    that was at ``path`` before is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _storage_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        yield tmp_path
        _sync(tmp_path)
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _storage_error(path, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    _sync_dir(path.parent)
    record_output(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_netcdf(obj: Any, path: str | os.PathLike) -> Path:
    """Write an ``xarray.Dataset`` or ArviZ ``InferenceData`` to netCDF atomically (h5netcdf)."""
    with atomic_path(path) as tmp:
        if hasattr(obj, "to_netcdf") and hasattr(obj, "groups"):  # InferenceData
            obj.to_netcdf(str(tmp), engine="h5netcdf")
        else:
            obj.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    plt.close(fig)
    return path


def check_out_path(path: str | os.PathLike) -> Path:
    """Check an output folder path without creating anything, else InputError.

    Refused: an empty path (``Path("")`` would silently mean the current folder) and a path that
    exists but is not a folder. Used before a run's cost is confirmed, so that a refused run
    leaves nothing behind; :func:`check_writable_dir` then creates it.
    """
    if isinstance(path, str) and not path.strip():
        raise InputError(f"--out: expected a folder path, got {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out: expected a writable folder, got {str(path)!r} (File exists)")
    return path


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written there, else InputError.

    An empty path is refused (``Path("")`` would silently mean the current folder).
    """
    path = check_out_path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise InputError(f"--out: expected a writable folder, got {str(path)!r} ({exc.strerror})") from None
    return path


def write_csv(path, rows, columns) -> Path:
    """Write ``rows`` (dicts) with ``columns`` to CSV atomically; NaN written as empty.

    Floats are written with 6 significant digits; keys outside ``columns`` are ignored.
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                        (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def write_dataset_csv(path, ds: Any, columns, *, present: str = "fraction", sort=None) -> Path:
    """Export labelled data to CSV: one line per cell of ``ds`` (an xarray Dataset) where ``present`` is finite.

    The dims become columns beside the variables (``ds.to_dataframe()``); ``columns`` pick and
    order them; ``sort`` (column names) orders the lines, else the Dataset's order. CSV files are
    exports for people: nothing reads them back (:mod:`comparisons.contracts`).
    """
    frame = ds.to_dataframe().reset_index()
    frame = frame[frame[present].notna()]
    if sort:
        frame = frame.sort_values(list(sort), kind="stable")
    return write_csv(path, frame.to_dict(orient="records"), columns)



def write_dataset_json(path, ds: Any) -> Path:
    """Export a Dataset over one dim (e.g. the transitions hand-off) to JSON: one object per element,
    its variables as keys in the Dataset's order, NaN as ``null``. An export for people, like
    :func:`write_dataset_csv`."""
    frame = ds.reset_coords(drop=True).to_dataframe().reset_index(drop=True)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return write_json(path, records)
