"""Tasks of a sweep and the key that names their results.

A :class:`Task` is one independent unit of work (one n of a NUTS ladder, one block of SGD runs,
one block of checkpoints for the LLC). Its *key* is the sha256 of the canonical JSON of everything
that determines its result: the task itself (name, configuration, seed), the result-format
version of the code that computes it and the versions of the packages that change its numbers.
"""

from __future__ import annotations

__all__ = ["Task", "task_key", "canonical_json"]

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import InputError



def _plain(name: str, value: Any) -> Any:
    """Return ``value`` as plain JSON data (dict/list/str/int/float/bool/None) or raise InputError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{name}: expected finite numbers in a task configuration, got {value!r}")
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"{name}: expected string keys in a task configuration, got {k!r}")
            out[k] = _plain(f"{name}.{k}", v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalar
        return _plain(name, value.item())
    raise InputError(f"{name}: expected JSON data (numbers, strings, lists, dicts) in a task "
                     f"configuration, got {type(value).__name__}")


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` to canonical JSON: sorted keys, no whitespace, plain ASCII.

    Examples
    --------
    >>> canonical_json({"n": 100, "beta": 0.5}) == canonical_json({"beta": 0.5, "n": 100})
    True
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


@dataclass(frozen=True, eq=False)
class Task:
    """One independent unit of work of a sweep.

    Parameters
    ----------
    name : str
        Human-readable label shown in progress and failure reports (e.g. ``"bayes n=100"``);
        part of the key, so two task kinds sharing a store never collide.
    config : mapping
        Everything that determines the result, as JSON data (numbers, strings, booleans, None,
        lists, string-keyed dicts; numpy scalars are converted). Tuples become lists.

    Notes
    -----
    Tasks compare and hash by their canonical JSON, so equal configurations written in different
    key orders are the same task.

    A task function draws every random number from seeds in its ``config`` (the streams of the
    seed tree, :mod:`comparisons.theory.streams`), never from the worker, so a result does not
    depend on which executor or worker computed it.
    """

    name: str
    config: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"task name: expected a non-empty string, got {self.name!r}")
        if not isinstance(self.config, Mapping):
            raise InputError(f"task {self.name!r} config: expected a dict, got {type(self.config).__name__}")
        object.__setattr__(self, "config", _plain(f"task {self.name!r} config", self.config))

    def to_json(self) -> dict[str, Any]:
        """Return the task as plain JSON data ``{"name", "config"}``."""
        return {"name": self.name, "config": self.config}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and canonical_json(self.to_json()) == canonical_json(other.to_json())

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_json()))


def task_key(task: Task, result_format: int | str = 1, versions: Mapping[str, str] | None = None) -> str:
    """Return the sha256 hex digest that names the result of ``task``.

    Parameters
    ----------
    task : Task
    result_format : int or str
        Version of the layout/meaning of the result, bumped by the engine whenever the task
        function changes what it returns; old results are then recomputed, not misread.
    versions : mapping of str to str, optional
        Versions of the packages that change results (e.g. ``{"torch": torch.__version__}``).

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    payload = {
        "task": task.to_json(),
        "result_format": _plain("result_format", result_format),
        "versions": {str(k): str(v) for k, v in dict(versions or {}).items()},
    }
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()
