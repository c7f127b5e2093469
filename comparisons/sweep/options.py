"""The sweep flags every engine CLI shares, and their translation into :func:`run_sweep` arguments."""

from __future__ import annotations

__all__ = ["add_sweep_arguments", "check_scheduler", "pool_when_asked", "sweep_kwargs"]

import argparse
import socket
import sys
from typing import Any

from ..config_file import positive_int_arg
from ..errors import InputError
from .runner import EXECUTORS


def add_sweep_arguments(parser: argparse.ArgumentParser, *, executor: str | None = "auto",
                        executor_help: str | None = None) -> None:
    """Add ``--executor --workers --scheduler --dask-local --retries --no-progress --config --yes``.

    Options the parser already has (e.g. a command's own ``--no-progress``) are left as they are.
    ``executor`` is the command's default executor (``"inline"`` for the commands whose tasks run
    one at a time unless asked: :func:`pool_when_asked`; None: each stage's own, for ``reproduce``)
    and ``executor_help`` says what it does there, so that ``--help`` states the default that
    applies.
    """
    g = _Tolerant(parser.add_argument_group("sweep execution"), parser)
    if executor_help is None:
        executor_help = ("auto: a process pool of --workers, in-process for one task, Dask when "
                         "--scheduler/--dask-local is given")
    g.add_argument("--executor", choices=EXECUTORS, default=executor,
                   help=f"where tasks run (default: {executor_help})")
    g.add_argument("--workers", type=positive_int_arg("--workers"), default=None,
                   help="worker processes of a process pool or local Dask cluster (default: the usable CPU cores)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask distributed scheduler address, e.g. tcp://host:8786 (needs the dask extra)")
    g.add_argument("--dask-local", action="store_true",
                   help="run on a local Dask cluster (needs the dask extra)")
    g.add_argument("--retries", type=positive_int_arg("--retries", minimum=0), default=2,
                   help="extra attempts for a task that raises (default: 2)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--yes", action="store_true",
                   help="start even if the run is estimated to take more than one hour "
                        "(the estimate is printed first; see comparisons.cost)")
    g.add_argument("--config", default=None, metavar="TOML",
                   help="TOML file whose [subcommand] table gives defaults; explicit flags win")


class _Tolerant:
    """An argument group that skips options its parser already defines."""

    def __init__(self, group, parser: argparse.ArgumentParser) -> None:
        self._group, self._parser = group, parser

    def add_argument(self, *flags, **kwargs):
        if any(f in self._parser._option_string_actions for f in flags):
            return None
        return self._group.add_argument(*flags, **kwargs)


def pool_when_asked(args: Any, *, processes: bool = True, note: bool = True) -> str:
    """Leave the in-process default when the flags ask for more than one worker: Dask with
    ``--scheduler``/``--dask-local``, a process pool with ``--workers N > 1``.

    For the commands whose tasks run one at a time unless asked (a PT study, the SMC ladder):
    their ``executor`` is ``"inline"`` or None by default, and ``--workers 2`` alone would
    otherwise be ignored. An executor the user named (``process``, ``dask``) is kept.
    ``processes=False``: Dask only, for sweeps whose samplers use the cores themselves (the NUTS
    ladder, the LLC sweep); there ``--workers N > 1`` alone prints a one-line note on stderr that
    it changes nothing without ``--executor process`` (``note=False``: not, for ``reproduce``, whose
    other stages do use the workers). Sets and returns ``args.executor``.
    """
    if getattr(args, "executor", None) in ("inline", None):
        workers = getattr(args, "workers", None) or 1
        if getattr(args, "scheduler", None) or getattr(args, "dask_local", False):
            args.executor = "dask"
        elif processes and workers > 1:
            args.executor = "process"
        else:
            args.executor = "inline"
            if workers > 1 and note:  # said, not silently dropped
                print(f"note: --workers {workers}: these tasks run one at a time in this process (their "
                      "samplers use the cores themselves); --executor process runs that many at once",
                      file=sys.stderr)
    return args.executor


def sweep_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Return ``executor, workers, scheduler, retries, progress`` for :func:`run_sweep` from ``args``."""
    scheduler = getattr(args, "scheduler", None)
    if getattr(args, "dask_local", False):
        if scheduler is not None:
            raise InputError(f"--dask-local: expected no --scheduler with it, got {scheduler!r}")
        scheduler = "local"
    executor = getattr(args, "executor", "auto")
    if scheduler is not None and executor in ("inline", "process"):
        flag = "--dask-local" if scheduler == "local" else "--scheduler"
        raise InputError(f"{flag}: expected --executor auto or dask with it, got {executor!r}")
    return {"executor": executor, "workers": getattr(args, "workers", None), "scheduler": scheduler,
            "retries": getattr(args, "retries", 2), "progress": not getattr(args, "no_progress", False)}


def check_scheduler(scheduler: Any, timeout: float = 3.0) -> None:
    """Raise InputError unless ``scheduler`` is usable: None, ``"local"``, a Client, or a reachable address.

    An address (``tcp://host:port``, ``tls://...``) is tried with a plain TCP connection of at
    most ``timeout`` seconds, so that a mistyped or dead scheduler is reported in one line before
    any work starts (the Dask client itself waits 30 s and raises a long error).
    """
    if scheduler is None or not isinstance(scheduler, str) or scheduler == "local":
        return
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        raise InputError(f"--scheduler: expected a Dask scheduler address like tcp://host:8786, got {scheduler!r}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"--scheduler: expected a reachable Dask scheduler, got {scheduler!r} "
                         f"({reason})") from None
