"""Exceptions shared by every package of the project.

Bad input is raised once, at the boundary, as :class:`InputError` with a message of the form
"expected X, got Y". The command line maps it to exit code 2 and prints the message on one line.
Numerical failures (divergences, NaN chains) are *data*, not exceptions: they are flagged in the
outputs and counted in reports.
"""

from __future__ import annotations

__all__ = ["InputError", "check_positive_int", "check_positive_float", "check_finite_array", "check_field_types",
           "check_field_names", "shown"]

import math
from typing import Any


class InputError(ValueError):
    """Invalid user input: the message names the bad value and what is allowed.

    The message is one line whatever it quotes: a line break (an array's repr in "got ...") and
    the indentation after it become one space.
    """

    def __init__(self, *args: Any) -> None:
        if args and isinstance(args[0], str) and "\n" in args[0]:
            import re

            args = (re.sub(r"\s*\n\s*", " ", args[0]).strip(), *args[1:])
        super().__init__(*args)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line and at most ``limit`` characters: the "got Y" of a message
    (an array's repr spans lines, and a message is one line)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise InputError."""
    text = shown(value)
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise InputError(f"{name}: expected an integer >= {minimum}, got {text}")
    try:
        value = int(value.__index__())  # an integer scalar (numpy's too), never an array
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected an integer >= {minimum}, got {text}") from None
    if value < minimum:
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def check_positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a real number, finite and ``> 0`` (``>= 0`` with
    ``allow_zero``); the one positive-number validator of the package.

    A bool (numpy's too) or an array with entries is refused; a flag's text (``"1e-3"``) and a
    0-d array or tensor count as their number. A config refuses a string for a number field
    before this runs (:func:`check_field_types`). The positive-number checks of the theory
    (``check_beta``, ``prior_sigma``), of the configs and of the flags (``positive_float_arg``)
    are this one.
    """
    rel = ">= 0" if allow_zero else "> 0"
    try:
        if isinstance(value, (bool, bytes)) or getattr(value, "ndim", 0) != 0 \
                or getattr(getattr(value, "dtype", None), "kind", "") == "b":
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond the float range
        raise InputError(f"{name}: expected a finite number {rel}, got {shown(value)}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"{name}: expected a finite number {rel}, got {shown(value)}")
    return number


def check_finite_array(name: str, value: Any):
    """Return ``value`` as a float ndarray if every entry is finite, else raise InputError."""
    import numpy as np

    try:
        arr = np.asarray(value, dtype=float)
    except OverflowError:  # a Python int beyond the float range
        raise InputError(f"{name}: expected finite values, got an integer beyond the float range") from None
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


def _type_ok(value: Any, kind: str) -> bool:
    """Whether ``value`` fits the annotation text ``kind`` (the simple types of the configs)."""
    import numbers

    kind = kind.strip()
    if "|" in kind:
        return any(_type_ok(value, part) for part in kind.split("|"))
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool) or type(value).__name__ == "bool_"
    if kind == "int":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("tuple[") and kind.endswith(", ...]"):
        inner = kind[len("tuple["):-len(", ...]")]
        return isinstance(value, tuple) and all(_type_ok(v, inner) for v in value)
    if kind == "dict":
        return isinstance(value, dict)
    return True  # an annotation this check does not know: the config's own checks decide


def check_field_types(config: Any) -> None:
    """Refuse a dataclass config whose fields do not have their annotated types.

    Run first in a config's ``__post_init__``, so that the range checks that follow compare
    numbers with numbers: a string, a list or a complex number given for a number field raises
    one :class:`InputError` ("expected an integer, got 'abc'") instead of a TypeError deep in a
    comparison. Annotations understood: ``int``, ``float`` (integers accepted), ``bool``,
    ``str``, ``dict``, ``tuple[T, ...]`` and unions with ``None``; other annotations are left to
    the config's own checks.
    """
    import dataclasses

    words = {"int": "an integer", "float": "a real number", "bool": "true or false", "str": "a string",
             "dict": "a mapping"}
    for f in dataclasses.fields(config):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        value = getattr(config, f.name)
        if not _type_ok(value, kind):
            expected = " or ".join(words.get(k.strip(), k.strip()) for k in kind.split("|"))
            if kind.startswith("tuple["):
                inner = kind[len("tuple["):-len(", ...]")]
                expected = "a tuple of " + {"int": "integers", "float": "real numbers", "str": "strings"}.get(inner, inner)
            raise InputError(f"{f.name}: expected {expected}, got {shown(value)} ({type(value).__name__})")


def check_field_names(cls: type, names: Any, where: str) -> None:
    """Refuse keyword names that are not fields of the dataclass ``cls`` (instead of a TypeError).

    ``where`` names the call in the message, e.g. ``"preset_config('quick')"``.
    """
    import dataclasses

    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(str(k) for k in names if k not in known)
    if unknown:
        raise InputError(f"{where}: expected keywords among {', '.join(known)}, got {', '.join(unknown)}")
