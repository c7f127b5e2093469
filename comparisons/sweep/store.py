"""A results store on disk: one sealed result per task, keyed by :func:`task_key`.

Layout of a store folder::

    sweep-store.json        manifest: {"store_format": 1, ...}
    results/<key>.nc        payload: xarray Dataset / DataTree as netCDF (h5netcdf)
    results/<key>.npz       payload: dict of numpy arrays (loaded with allow_pickle=False)
    results/<key>.pkl       payload: any other picklable object
    results/<key>.json      seal: the task, its key, the payload's size and sha256

Every file is written atomically (temporary file in the same folder, then ``os.replace``) and the
seal is written after its payload, so a result is *intact* only when its seal parses, names the
same key and matches the payload's size and sha256. A crash at any point leaves either an intact
result or one that is recomputed; never a half-written file that is read back.
"""

from __future__ import annotations

__all__ = ["ResultStore", "STORE_FORMAT", "MANIFEST_NAME", "intact_tasks"]

import datetime as _dt
import hashlib
import json
import os
import pickle
import socket
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..folder import pid_alive
from ..io import atomic_path, check_writable_dir, write_json
from .task import Task, task_key

#: Version of the store layout; a store written with another value is refused, not misread.
STORE_FORMAT = 1
MANIFEST_NAME = "sweep-store.json"
_LOCK_NAME = "sweep-store.lock"
_KINDS = {"netcdf": ".nc", "datatree": ".nc", "npz": ".npz", "pickle": ".pkl"}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _kind_of(value: Any) -> str:
    """Pick the on-disk format of a result."""
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray is a dependency
        xr = None
    if xr is not None and isinstance(value, xr.Dataset):
        return "netcdf"
    if xr is not None and hasattr(xr, "DataTree") and isinstance(value, xr.DataTree):
        return "datatree"
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        import numpy as np

        def plain_array(v: Any) -> bool:
            return isinstance(v, (np.ndarray, np.generic, int, float, bool)) and np.asarray(v).dtype.kind in "biufcUS"

        if all(plain_array(v) for v in value.values()):
            return "npz"
    return "pickle"


def _read_seal(results_dir: Path, key: str) -> dict | None:
    """The seal of ``key`` in ``results_dir``, or None when it is missing or does not parse."""
    try:
        seal = json.loads((results_dir / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(seal, dict) or seal.get("key") != key or seal.get("kind") not in _KINDS:
        return None
    return seal


def _status(results_dir: Path, key: str) -> str:
    """``"intact"``, ``"missing"`` or ``"corrupt"``: the result ``key`` in ``results_dir``."""
    if not (results_dir / f"{key}.json").exists():
        return "missing"
    seal = _read_seal(results_dir, key)
    if seal is None:
        return "corrupt"
    payload = results_dir / f"{key}{_KINDS[seal['kind']]}"
    try:
        if payload.stat().st_size != seal.get("bytes") or _sha256(payload) != seal.get("sha256"):
            return "corrupt"
    except OSError:
        return "corrupt"
    return "intact"


def intact_tasks(path: str | os.PathLike, tasks: list[Task], *, result_format: int | str = 1,
                 versions: Mapping[str, str] | None = None) -> list[bool]:
    """Which of ``tasks`` have an intact result in the store at ``path``, read only.

    For estimates made before a run: unlike :class:`ResultStore` this creates no folder and no
    manifest, and a folder that is not a store of :data:`STORE_FORMAT` (or does not exist) holds
    nothing. The keys are
    those :class:`ResultStore` gives with the same ``result_format`` and ``versions``.
    """
    results = Path(path) / "results"
    try:  # a store that ResultStore refuses (another layout, a damaged manifest) holds nothing usable
        fmt = json.loads((Path(path) / MANIFEST_NAME).read_text()).get("store_format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if not results.is_dir() or fmt != STORE_FORMAT:
        return [False] * len(tasks)
    return [_status(results, task_key(t, result_format, versions)) == "intact" for t in tasks]


class ResultStore:
    """A folder of task results keyed by the hash of their configuration.

    Parameters
    ----------
    path : str or path-like
        Folder of the store; created if needed; must be writable.
    result_format : int or str, default 1
        Version of what the task function returns (part of every key; see :func:`task_key`).
    versions : mapping of str to str, optional
        Versions of the packages that change results (part of every key).

    Raises
    ------
    InputError
        If the folder is not writable, or holds a store of another :data:`STORE_FORMAT`.
    """

    def __init__(self, path: str | os.PathLike, *, result_format: int | str = 1,
                 versions: Mapping[str, str] | None = None) -> None:
        if isinstance(result_format, bool) or not isinstance(result_format, (int, str)):
            raise InputError(f"result_format: expected an int or str, got {result_format!r}")
        if versions is not None and not isinstance(versions, Mapping):
            raise InputError(f"versions: expected a mapping of package name to version, got {versions!r}")
        self.path = check_writable_dir(path)
        self.results_dir = self.path / "results"
        self.result_format = result_format
        self.versions = {str(k): str(v) for k, v in dict(versions or {}).items()}
        self._check_manifest()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r}, result_format={self.result_format!r}, versions={self.versions!r})"

    # -- manifest -------------------------------------------------------------------------------
    def _check_manifest(self) -> None:
        manifest = self.path / MANIFEST_NAME
        if manifest.exists():
            try:
                data = json.loads(manifest.read_text())
                fmt = data["store_format"]
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"results store at {self.path}: unreadable {MANIFEST_NAME}; "
                                 f"use a new --out folder") from None
            if fmt != STORE_FORMAT:
                raise InputError(f"results store at {self.path} has format {fmt}, expected "
                                 f"{STORE_FORMAT}; use a new --out folder")
        else:
            write_json(manifest, {"store_format": STORE_FORMAT, "created": _now(),
                                  "writer": "comparisons.sweep"})
        self.results_dir.mkdir(exist_ok=True)

    # -- keys and paths -------------------------------------------------------------------------
    def key(self, task: Task) -> str:
        """Return the key of ``task`` in this store (see :func:`task_key`)."""
        return task_key(task, self.result_format, self.versions)

    def seal_path(self, task: Task) -> Path:
        """Path of the seal (JSON record) of ``task``."""
        return self.results_dir / f"{self.key(task)}.json"

    def _read_seal(self, key: str) -> dict | None:
        return _read_seal(self.results_dir, key)

    def status(self, task: Task) -> str:
        """Return ``"intact"``, ``"missing"`` (never written) or ``"corrupt"`` for ``task``."""
        return _status(self.results_dir, self.key(task))

    def info(self, task: Task) -> dict:
        """The seal of ``task``'s result (task, size, ``elapsed_s`` of its computation, ...), or {}."""
        return self._read_seal(self.key(task)) or {}

    def is_intact(self, task: Task) -> bool:
        """True if the result of ``task`` exists and matches its seal."""
        return self.status(task) == "intact"

    def path_of(self, task: Task) -> Path:
        """Path of the payload file of an intact result of ``task`` (InputError if not intact)."""
        key = self.key(task)
        seal = self._read_seal(key)
        if seal is None:
            raise InputError(f"task {task.name!r}: expected a result in {self.path}, got none")
        return self.results_dir / f"{key}{_KINDS[seal['kind']]}"

    # -- write and read -------------------------------------------------------------------------
    def write(self, task: Task, value: Any, **info: Any) -> Path:
        """Store ``value`` as the result of ``task`` and return the payload path.

        xarray Datasets and DataTrees are written as netCDF, dicts of numpy arrays as ``.npz``,
        anything else is pickled. Extra JSON-able ``info`` (timing, attempts) goes into the seal.
        """
        key = self.key(task)
        kind = _kind_of(value)
        payload = self.results_dir / f"{key}{_KINDS[kind]}"
        seal_file = self.results_dir / f"{key}.json"
        seal_file.unlink(missing_ok=True)  # unseal first: payload and seal change together
        with atomic_path(payload) as tmp:
            if kind in ("netcdf", "datatree"):
                value.to_netcdf(tmp, engine="h5netcdf")
            elif kind == "npz":
                import numpy as np

                with open(tmp, "wb") as f:
                    np.savez(f, **{k: np.asarray(v) for k, v in value.items()})
            else:
                with open(tmp, "wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            size, digest = tmp.stat().st_size, _sha256(tmp)
        seal = {"store_format": STORE_FORMAT, "key": key, "task": task.to_json(),
                "result_format": self.result_format, "versions": self.versions, "kind": kind,
                "payload": payload.name, "bytes": size, "sha256": digest, "written": _now(),
                "host": socket.gethostname(), **info}
        write_json(seal_file, seal)
        return payload

    def load(self, task: Task) -> Any:
        """Load the intact result of ``task`` (InputError if it is missing or corrupt)."""
        status = self.status(task)
        if status != "intact":
            raise InputError(f"task {task.name!r}: expected an intact result in {self.path}, got {status}")
        key = self.key(task)
        kind = self._read_seal(key)["kind"]
        path = self.results_dir / f"{key}{_KINDS[kind]}"
        if kind == "netcdf":
            import xarray as xr

            return xr.load_dataset(path, engine="h5netcdf")
        if kind == "datatree":
            import xarray as xr

            return xr.load_datatree(path, engine="h5netcdf")
        if kind == "npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        with open(path, "rb") as f:
            return pickle.load(f)

    def remove(self, task: Task) -> None:
        """Delete the result of ``task`` (seal first, then payload); no error if absent."""
        key = self.key(task)
        (self.results_dir / f"{key}.json").unlink(missing_ok=True)
        for ext in set(_KINDS.values()):
            (self.results_dir / f"{key}{ext}").unlink(missing_ok=True)

    # -- single writer --------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the store's lock (one sweep writes a store at a time) and sweep stale temp files.

        A lock left by a process that no longer runs on this host is taken over.
        """
        lock = self.path / _LOCK_NAME
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    owner = json.loads(lock.read_text())
                except (OSError, ValueError):
                    owner = {}
                if owner.get("host") == me["host"] and not pid_alive(owner.get("pid")):
                    lock.unlink(missing_ok=True)
                    continue
                raise InputError(f"results store at {self.path}: expected no other sweep writing it, "
                                 f"got one (pid {owner.get('pid')} on {owner.get('host')}); "
                                 f"delete {lock} if that sweep is gone") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        for stale in self.results_dir.glob(".*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)

    def release(self) -> None:
        """Give back the lock taken by :meth:`acquire`."""
        (self.path / _LOCK_NAME).unlink(missing_ok=True)

