"""Exceptions shared by every package of the project.

Bad input is raised once, at the boundary, as :class:`InputError` with a message of the form
"expected X, got Y". The command line maps it to exit code 2 and prints the message on one line.
Numerical failures (divergences, NaN chains) are *data*, not exceptions: they are flagged in the
outputs and counted in reports.
"""

from __future__ import annotations

__all__ = ["InputError", "check_positive_int", "check_positive_float", "check_finite_array"]

import math
from typing import Any


class InputError(ValueError):
    """Invalid user input: the message names the bad value and what is allowed."""


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise InputError."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def check_positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is finite and ``> 0`` (``>= 0`` with ``allow_zero``)."""
    rel = ">= 0" if allow_zero else "> 0"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a finite number {rel}, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"{name}: expected a finite number {rel}, got {value!r}")
    return number


def check_finite_array(name: str, value: Any):
    """Return ``value`` as a float ndarray if every entry is finite, else raise InputError."""
    import numpy as np

    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected an array of numbers, got {type(value).__name__}") from None
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        where = tuple(int(i) for i in np.argwhere(~finite)[0]) if arr.ndim else ()
        first = arr[where] if arr.ndim else arr
        raise InputError(f"{name}: expected finite values, got {bad} NaN/inf entries "
                         f"(first: {float(first)} at index {where})")
    return arr
