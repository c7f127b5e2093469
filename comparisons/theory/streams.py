"""The seed tree: every random stream of the project is a named child of one root seed.

A stream is addressed by a path of names and integers, e.g. ``("bayes", "dataset", 3)``; its seed
is a pure function of the root seed and that path, so adding, removing or reordering other
streams changes nothing, and a record of the path is a record of the rule.
"""

from __future__ import annotations

__all__ = ["child_seed", "child_sequence"]

import hashlib

import numpy as np

from ..errors import InputError, check_positive_int


def _words(path: tuple) -> list[int]:
    out = []
    for part in path:
        if isinstance(part, bool) or not isinstance(part, (int, np.integer, str)):
            raise InputError(f"seed path: expected names and integers, got {part!r}")
        if isinstance(part, str):
            out.append(int.from_bytes(hashlib.sha256(part.encode()).digest()[:4], "little"))
        else:
            out.append(check_positive_int("seed path entry", int(part), minimum=0))
    return out


def child_sequence(root: int, *path: str | int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream ``path`` under ``root`` (named parts hashed, ints as is).

    Examples
    --------
    >>> a = child_sequence(0, "bayes", "dataset", 1).generate_state(1)[0]
    >>> b = child_sequence(0, "bayes", "dataset", 1).generate_state(1)[0]
    >>> bool(a == b), bool(a == child_sequence(0, "bayes", "dataset", 2).generate_state(1)[0])
    (True, False)
    """
    root = check_positive_int("seed", root, minimum=0)
    return np.random.SeedSequence(root, spawn_key=tuple(_words(path)))


def child_seed(root: int, *path: str | int) -> int:
    """An integer seed in ``[0, 2^31)`` for the stream ``path`` under ``root``."""
    return int(child_sequence(root, *path).generate_state(1, np.uint32)[0] >> np.uint32(1))
