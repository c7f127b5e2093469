"""An output folder has one owner: which job writes it, a lock while it runs, and no stale files.

Every job that writes a folder (``bayes`` with replica exchange or NUTS, the PT study over data
sets, ``sgd``, ``free-energy``, ``llc --measure-phases``, ``reproduce``) enters
:func:`owned_folder` at its start. That

- takes the folder's lock (``.tms-phases.lock``: an ``flock`` on the file, which holds the
  holder's PID, host and command). A second run into the same folder is refused in one line
  naming the first run's process; a lock left by a process that is gone is taken over (the
  kernel drops an ``flock`` when its holder dies, so a stale lock never blocks anything);
- checks the owner record ``owner.json`` (job, sampler, command, configuration hash, and the
  outputs of the last finished run). A different job or sampler is refused in one line naming
  the owner and suggesting a new ``--out``; with ``replace=True`` (``--replace`` on the command
  line) the folder's files first move aside to ``unused/``. A folder written before owner
  records existed is recognised by the files its job leaves (:data:`SIGNATURES`);
- records, through :func:`comparisons.io.record_output`, every file the run writes (and every
  cached file it vouches for with :func:`keep`). :meth:`Folder.finish` then moves the outputs of
  the previous run that this run no longer wrote into ``unused/``, so no stale file stays beside
  fresh outputs, and stores this run's outputs in the owner record. Files that no run of the job
  wrote (a user's own files) are never touched.

The results store of a sweep (``tasks/``) manages its own files and is never moved, except by
``replace``. A folder claimed while another is claimed inside it (the data sets of a study, the
stages of ``reproduce``) is one output of the outer folder.
"""

from __future__ import annotations

__all__ = ["OWNER_FILE", "LOCK_FILE", "UNUSED", "SIGNATURES", "FolderBusy", "FolderOwned", "Folder", "check_folder",
           "owned_folder", "keep", "config_hash", "command_line", "read_owner", "set_replace_default", "pid_alive"]

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Iterator

from . import io as _io
from .errors import InputError

#: the owner record of a folder
OWNER_FILE = "owner.json"
#: the lock file (hidden: it is never an output)
LOCK_FILE = ".tms-phases.lock"
#: where files set aside go
UNUSED = "unused"
#: top-level entries that are never outputs of a run: the sweep's results store, the set-aside files
_NEVER_OUTPUTS = ("tasks", UNUSED, OWNER_FILE)
#: the file that marks a folder written by a job before owner records existed, and that job
SIGNATURES = (("switch_summary.csv", "bayes --sampler pt --datasets"),
              ("done.json", "bayes --sampler pt"), ("pt_state.npz", "bayes --sampler pt"),
              ("log_mass.csv", "bayes --sampler nuts"), ("trajectory.nc", "sgd"),
              ("free_energy.csv", "free-energy"), ("reproduce.json", "reproduce"))

_REPLACE_DEFAULT = False
_ACTIVE: list["Folder"] = []  # folders claimed by this process, outermost first
_LOCKS: dict[str, list] = {}  # resolved folder -> [fd, depth]: a process may claim a folder twice


class FolderBusy(InputError):
    """Another running process holds the folder's lock."""


class FolderOwned(InputError):
    """The folder holds the outputs of another job or sampler."""


def set_replace_default(replace: bool) -> None:
    """What ``replace=None`` means in :func:`owned_folder` (the command line's ``--replace``)."""
    global _REPLACE_DEFAULT
    _REPLACE_DEFAULT = bool(replace)


def config_hash(config: Any) -> str:
    """A short hash (16 hex digits) of a JSON-able description of a job's configuration."""
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def command_line() -> str:
    """The command line of this process, as a user would type it (``tms-phases ...`` for the CLI)."""
    argv = list(sys.argv) or ["python"]
    prog = Path(argv[0]).name
    if prog in ("__main__.py", "tms-phases", "-m"):
        prog = "tms-phases"
    return " ".join([prog, *(shlex.quote(a) for a in argv[1:])])


def read_owner(path: str | os.PathLike) -> dict | None:
    """The owner record of folder ``path`` (None if it has none or it cannot be read)."""
    try:
        rec = json.loads((Path(path) / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("job"), str) else None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _visible(root: Path) -> list[Path]:
    """Entries of ``root`` that a user would call its files (no hidden ones, no ``unused/``)."""
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.name != UNUSED)


def _legacy_job(root: Path) -> str | None:
    """The job of a folder written before owner records existed (:data:`SIGNATURES`), if any."""
    for name, job in SIGNATURES:
        if (root / name).exists():
            return job
    if any(root.glob("llc_measured_c*.json")):
        return "llc --measure-phases"
    return None


def _set_aside(root: Path, rel: str) -> bool:
    """Move ``root/rel`` to ``root/unused/rel`` (replacing what is there); False if it is gone."""
    src = root / rel
    if not (src.exists() or src.is_symlink()):
        return False
    dst = root / UNUSED / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    os.replace(src, dst)
    return True


def pid_alive(pid: Any) -> bool:
    """True if ``pid`` (an int) names a running process on this host."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock(root: Path, job: str, command: str) -> None:
    """Take the folder's lock (reentrant within this process), else FolderBusy."""
    import fcntl

    key = str(root.resolve())
    if key in _LOCKS:
        _LOCKS[key][1] += 1
        return
    path = root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _io.StorageError(f"{path}: expected a writable lock file, got {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise _io.StorageError(f"{path}: expected a lockable file, got {exc.strerror}") from None
        holder = _read_lock(path)
        who = (f"pid {holder.get('pid')} on {holder.get('host')}: {holder.get('command')}, since "
               f"{holder.get('started')}") if holder else "another process"
        raise FolderBusy(f"{root}: expected no other run writing this folder, got one ({who}); wait for it "
                         f"to finish, or use a new --out") from None
    old = _read_lock(path)
    if old and old.get("host") == socket.gethostname() and not pid_alive(old.get("pid")):
        print(f"note: {root}: taking over the lock of pid {old.get('pid')} ({old.get('command')}), "
              "which is no longer running", file=sys.stderr)
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "job": job, "command": command,
                         "started": _now()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)
    _LOCKS[key] = [fd, 1]


def _read_lock(path: Path) -> dict:
    try:
        rec = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _unlock(root: Path) -> None:
    import fcntl

    key = str(root.resolve())
    entry = _LOCKS.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    fd = entry[0]
    del _LOCKS[key]
    try:
        os.ftruncate(fd, 0)  # the file stays (deleting it would race with a waiting process)
    except OSError:
        pass
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class Folder:
    """A claimed output folder: its owner record and the outputs of the run that claimed it.

    Made by :func:`owned_folder`; :meth:`finish` is called by the job once its outputs are
    written.
    """

    def __init__(self, root: Path, record: dict, previous: list[str]) -> None:
        self.root = root
        self.record = record
        self.previous = previous
        self.outputs: set[str] = set()
        self._resolved = root.resolve()

    def __repr__(self) -> str:
        return f"Folder({str(self.root)!r}, job={self.record['job']!r})"

    def _relative(self, path: Path) -> str | None:
        try:
            rel = path.resolve().relative_to(self._resolved)
        except (ValueError, OSError):
            return None
        return rel.as_posix() if rel.parts and rel.parts[0] not in _NEVER_OUTPUTS else None

    def note(self, path: Path, unit: bool = False) -> None:
        """Record ``path`` (a file, or with ``unit`` a folder as a whole) as an output of this run."""
        rel = self._relative(path)
        if rel is not None:
            self.outputs.add(rel + "/" if unit or path.is_dir() else rel)

    def finish(self, accumulate: bool = False) -> list[str]:
        """Move the previous run's outputs that this run did not write to ``unused/``; record ours.

        With ``accumulate`` (a job whose runs add files beside each other's, such as the measured
        LLC tables of several ``c``), nothing moves and the outputs of both runs are recorded.
        Returns the relative paths set aside.
        """
        if accumulate:
            self.outputs |= {p for p in self.previous if (self.root / p.rstrip("/")).exists()}
        units = [o for o in self.outputs if o.endswith("/")]
        moved = []
        for rel in sorted(set(self.previous) - self.outputs):
            if any(rel.startswith(u) for u in units) or rel.rstrip("/") in self.outputs:
                continue
            if _set_aside(self.root, rel.rstrip("/")):
                moved.append(rel.rstrip("/"))
        if moved:
            print(f"note: {len(moved)} file(s) of an earlier run that this run does not write "
                  f"({', '.join(moved[:5])}{', ...' if len(moved) > 5 else ''}) moved to "
                  f"{self.root / UNUSED}", file=sys.stderr)
        self.record.update(status="finished", updated=_now(), outputs=sorted(self.outputs))
        _io.write_json(self.root / OWNER_FILE, self.record)
        return moved


def _innermost(path: Path) -> "Folder | None":
    for folder in reversed(_ACTIVE):
        if folder._relative(path) is not None:
            return folder
    return None


def _on_output(path: Path) -> None:
    folder = _innermost(path)
    if folder is not None:
        folder.note(path)


def keep(path: str | os.PathLike) -> None:
    """Record a file (or folder) that this run serves from an earlier one as one of its outputs.

    Cached results are not rewritten; without this they would count as stale and move aside.
    """
    path = Path(path)
    folder = _innermost(path)
    if folder is not None:
        folder.note(path, unit=path.is_dir())


def _refusal(root: Path, job: str, owner: str, detail: str) -> FolderOwned:
    return FolderOwned(f"{root}: expected a folder of `{job}`, got one holding the outputs of `{owner}`"
                       f"{detail}; use a new --out, or --replace to move its files to {root / UNUSED}")


def _other_owner(root: Path, job: str) -> tuple[str | None, str, list[str], list[Path]]:
    """Who else owns ``root`` for ``job``: ``(other job or None, detail, this job's previous outputs,
    the visible files)``."""
    owner = read_owner(root)
    visible = [p for p in _visible(root) if p.name != OWNER_FILE]
    previous: list[str] = []
    if owner is not None:
        other = owner["job"] if owner["job"] != job else None
        previous = [str(p) for p in owner.get("outputs", []) if isinstance(p, str)]
        detail = f" (command: {owner.get('command')}; config {owner.get('config_hash')})"
    elif (root / OWNER_FILE).exists():
        other, detail = "an unreadable owner record", ""
    else:
        other = _legacy_job(root) if visible else None
        other = None if other == job else other
        detail = " (a folder written before owner records)"
    return other, detail, previous, visible


def check_folder(out: str | os.PathLike, job: str, *, replace: bool | None = None) -> None:
    """Refuse ``out`` for ``job`` now, before any estimate or work, as :func:`owned_folder` would.

    Writes nothing: a folder that does not exist yet, or one ``replace`` may take over, passes.
    Raises :class:`FolderOwned`.
    """
    root = Path(out)
    replace = _REPLACE_DEFAULT if replace is None else bool(replace)
    if replace or not root.is_dir():
        return
    other, detail, _, _ = _other_owner(root, job)
    if other is not None:
        raise _refusal(root, job, other, detail)


@contextlib.contextmanager
def owned_folder(out: str | os.PathLike, job: str, *, config: Any = None, sampler: str | None = None,
                 command: str | None = None, replace: bool | None = None) -> Iterator[Folder]:
    """Claim the output folder ``out`` for ``job`` while the block runs.

    Parameters
    ----------
    out : path-like
        The output folder (created if needed; :func:`comparisons.io.check_writable_dir`).
    job : str
        What writes it, as a user names it: ``"bayes --sampler pt"``, ``"sgd"``, ...
    config : optional
        The job's configuration (an object with ``to_dict`` or JSON-able); its
        :func:`config_hash` goes into the owner record.
    sampler : str, optional
        The sampler, recorded beside the job.
    command : str, optional
        The command line (default: this process's, :func:`command_line`).
    replace : bool, optional
        Move the files of a folder owned by another job to ``unused/`` instead of refusing
        (default: :func:`set_replace_default`, the command line's ``--replace``).

    Raises
    ------
    FolderBusy
        Another running process writes the folder.
    FolderOwned
        The folder holds another job's outputs and ``replace`` is false.
    """
    root = _io.check_writable_dir(out)
    replace = _REPLACE_DEFAULT if replace is None else bool(replace)
    command = command or command_line()
    outer = _innermost(root)
    _lock(root, job, command)
    folder = None
    try:
        other, detail, previous, visible = _other_owner(root, job)
        if other is not None:
            if not replace:
                raise _refusal(root, job, other, detail)
            moved = [p.name for p in visible]
            for name in moved:
                _set_aside(root, name)
            (root / OWNER_FILE).unlink(missing_ok=True)
            previous = []
            print(f"note: --replace: the files of `{other}` in {root} ({', '.join(moved) or 'none'}) moved to "
                  f"{root / UNUSED}", file=sys.stderr)
        record = {"job": job, "sampler": sampler, "command": command,
                  "config_hash": None if config is None else config_hash(config),
                  "status": "running", "pid": os.getpid(), "host": socket.gethostname(), "updated": _now(),
                  "outputs": previous}
        _io.write_json(root / OWNER_FILE, record)
        folder = Folder(root, record, previous)
        if outer is not None:
            outer.note(root, unit=True)
        _ACTIVE.append(folder)
        if _on_output not in _io.OUTPUT_LISTENERS:
            _io.OUTPUT_LISTENERS.append(_on_output)
        yield folder
    finally:
        if folder is not None and folder in _ACTIVE:
            _ACTIVE.remove(folder)
        if not _ACTIVE and _on_output in _io.OUTPUT_LISTENERS:
            _io.OUTPUT_LISTENERS.remove(_on_output)
        _unlock(root)
