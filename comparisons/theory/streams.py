"""The seed tree: every random stream of the project is a named child of one root seed.

A stream is addressed by a path of names and integers, e.g. ``("bayes", "nuts", 400, "chain", 3)``;
its seed is a pure function of the root seed and that path, so adding, removing or reordering
other streams changes nothing, and a record of the path is a record of the rule.

The streams the project uses (``seed`` is the root seed a user passes):

=====================================  ==========================================================
path                                   stream
=====================================  ==========================================================
``("data",)``                          the nested data stream ``sample_inputs(n, c, seed)``
``("bayes", "dataset", k)``            root seed of data set ``k`` of a many-data-set study
``("bayes", "nuts", n, "chain", k)``   prior start of NUTS chain ``k`` at sample size ``n``
``("bayes", "nuts", n, "sampler")``    the seed handed to ``pm.sample`` / ``nutpie.sample``
``("bayes", "pt", "pilot" | "main")``  replica exchange: ladder refinement and the main run
``("bayes", "smc", n)``                SMC at sample size ``n``
``("bayes", "bootstrap", ...)``        bootstrap resampling of chains / copies
``("sgd", "run", r, "data" | "init" | "batches")``  SGD run ``r``; ``("sgd", "data")`` if shared
``("sgd", "sgld")``                    key of the counter-based SGLD noise (run, step, chain)
``("llc", ...)``                       LLC estimators (NUTS-LLC, population LLC)
``("task", i)``                        root seed of task ``i`` of a sweep
=====================================  ==========================================================

Where a caller hands in a stream of its own (a ``SeedSequence`` or ``Generator``) or a library
takes an integer, the derivation is one of these, so that every rule lives in this module:
:func:`root_sequence` (an int seed as its own ``SeedSequence``: the LLC and SMC estimators called
without a path), :func:`root_rng` (the generator of a seed or a generator: the flat-volume Monte
Carlo of :mod:`comparisons.theory.laplace`), :func:`sampler_generator` (replica exchange's
generator, spawned from a caller's generator), :func:`sequence_seed` (the integer a back-end
takes from a stream: NUTS-LLC) and :func:`spawned_seeds` (one integer per independent run: SMC).

Every spawn key starts with a tag word, and each path part is encoded as a (kind, value) pair of
32-bit words, so a path can collide neither with ``SeedSequence(root).spawn(...)`` children nor
with another path (names and integers are told apart; integers must be below ``2**32``).
"""

from __future__ import annotations

__all__ = ["child_seed", "child_sequence", "child_rng", "MAX_PATH_INT", "root_sequence", "root_rng",
           "sampler_generator", "sequence_seed", "spawned_seeds"]

import hashlib

import numpy as np

from ..errors import InputError, check_positive_int

#: largest integer allowed in a path (each integer is one 32-bit word)
MAX_PATH_INT = 2**32 - 1
#: first word of every spawn key: ``SeedSequence.spawn`` children use small counters instead
_TAG = int.from_bytes(hashlib.sha256(b"tms-phases seed tree").digest()[:4], "little")
_NAME, _INT = 1, 2


def _words(path: tuple) -> list[int]:
    out = [_TAG]
    for part in path:
        if isinstance(part, bool) or not isinstance(part, (int, np.integer, str)):
            raise InputError(f"seed path: expected names and integers, got {part!r}")
        if isinstance(part, str):
            out += [_NAME, int.from_bytes(hashlib.sha256(part.encode()).digest()[:4], "little")]
        else:
            value = check_positive_int("seed path entry", int(part), minimum=0)
            if value > MAX_PATH_INT:
                raise InputError(f"seed path entry: expected an integer below 2**32, got {value}")
            out += [_INT, value]
    return out


def child_sequence(root: int, *path: str | int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream ``path`` under ``root``.

    Parameters
    ----------
    root : int
        Root seed, ``>= 0`` (any size).
    *path : str or int
        Names and integers (``0 <= i < 2**32``) addressing the stream.

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


def child_rng(root: int, *path: str | int) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` on the stream ``path`` under ``root``."""
    return np.random.default_rng(child_sequence(root, *path))


def root_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """A ``SeedSequence`` passes through; an int seed ``>= 0`` is ``SeedSequence(seed)``."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(check_positive_int("seed", seed, minimum=0))


def root_rng(seed: int | np.random.Generator) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``: a fresh generator of an int seed, a generator itself."""
    return np.random.default_rng(seed)


def sampler_generator(seed: int | np.random.SeedSequence | np.random.Generator) -> np.random.Generator:
    """A fresh PCG64 generator: of an int seed ``>= 0`` or a ``SeedSequence``; spawned from a
    ``Generator`` (which is advanced, never shared)."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(1)[0]
    if isinstance(seed, np.random.SeedSequence):
        return np.random.Generator(np.random.PCG64(seed))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: expected an integer >= 0 or a numpy Generator, got {seed!r}")
    return np.random.Generator(np.random.PCG64(int(seed)))


def sequence_seed(ss: np.random.SeedSequence) -> int:
    """The integer seed a back-end (PyMC, nutpie) takes from the stream ``ss``: its first word."""
    return int(ss.generate_state(1)[0])


def spawned_seeds(ss: np.random.SeedSequence, count: int) -> list[int]:
    """One integer seed per independent run: :func:`sequence_seed` of each of ``count`` spawned children."""
    return [sequence_seed(s) for s in ss.spawn(count)]
