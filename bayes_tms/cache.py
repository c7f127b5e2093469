"""One cache of compiled models, keyed by what determines them.

Compiling a PyMC model (and, for nutpie, its numba kernels) takes seconds to tens of seconds,
while what changes between calls (the data, ``n``, the centre of an LLC estimate) lives in
``pm.Data`` containers and is swapped in without recompiling. Every place that keeps compiled
models between calls uses a :class:`ModelCache`: the NUTS sweep (one per worker process, shared
by its rungs), the LLC estimators and the SMC free-energy tasks.
"""

from __future__ import annotations

__all__ = ["ModelCache"]

from typing import Any, Callable, Hashable


class ModelCache:
    """Compiled models by key: :meth:`get` builds a model the first time its key is asked for.

    Parameters
    ----------
    name : str
        What the cache holds (for ``repr``).

    Attributes
    ----------
    builds : int
        How many models were built (compiled) so far; a second :meth:`get` with the same key
        builds nothing.

    Examples
    --------
    >>> cache = ModelCache("demo")
    >>> cache.get(("onehot", 6), lambda: object()) is cache.get(("onehot", 6), lambda: object())
    True
    >>> cache.builds
    1
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.builds = 0
        self._models: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The model of ``key``; ``build()`` is called (once) when there is none yet."""
        if key not in self._models:
            self._models[key] = build()
            self.builds += 1
        return self._models[key]

    def discard(self, key: Hashable) -> None:
        """Forget the model of ``key`` (if any): the next :meth:`get` builds it again."""
        self._models.pop(key, None)

    def clear(self) -> None:
        """Forget every model."""
        self._models.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"ModelCache({self.name!r}, models={len(self._models)}, builds={self.builds})"
