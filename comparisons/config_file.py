"""Command-line inputs: flag parsers shared by the CLIs and configuration from a TOML file.

Every parser raises :class:`comparisons.errors.InputError` with one line naming the flag, what
it expects and what it got. A TOML file gives one ``[section]`` per subcommand; its keys are the
long flags without the leading dashes (``-`` or ``_`` both accepted) and become the parser's
defaults, so flags given explicitly on the command line win::

    # sweep.toml
    [sgd]
    n = [100, 200, 400]       # or "100,200,400"
    runs = 50
    workers = 4

Integration in a CLI is two calls before ``parse_args``::

    path = find_config_arg(argv)                      # value of --config, if any
    if path: apply_config_defaults(subparser, path, "sgd")
"""

from __future__ import annotations

__all__ = [
    "parse_int_list", "parse_float_list", "check_positive_float",
    "int_list_arg", "float_list_arg", "positive_int_arg", "positive_float_arg",
    "load_config_section", "merge_config", "apply_config_defaults", "find_config_arg",
    "check_positive_int", "check_writable_dir", "DefaultsHelpFormatter",
]

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

from .errors import InputError, check_positive_float, check_positive_int
from .io import check_writable_dir


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append ``(default: X)`` to a flag's help only where it says something.

    Left out for defaults of None or False (the value then comes from a preset or means "off")
    and for help texts that already state their default.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


# -- values -------------------------------------------------------------------------------------
def _items(value: Any) -> list:
    if isinstance(value, str):
        return [p for p in value.replace(",", " ").split()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def parse_int_list(name: str, value: Any, minimum: int = 1) -> tuple[int, ...]:
    """Parse ``"100,200"`` (or ``"100 200"``, or a list) into a tuple of ints ``>= minimum``.

    Examples
    --------
    >>> parse_int_list("--n", "100,200")
    (100, 200)
    """
    expected = f"a comma-separated list of integers >= {minimum}"
    items = _items(value)
    if not items:
        raise InputError(f"{name}: expected {expected}, got {value!r}")
    out = []
    for item in items:
        try:
            if isinstance(item, bool) or isinstance(item, float):
                raise ValueError
            number = int(item)
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected {expected}, got {value!r}") from None
        if number < minimum:
            raise InputError(f"{name}: expected {expected}, got {number}")
        out.append(number)
    return tuple(out)


def parse_float_list(name: str, value: Any, allow_zero: bool = False) -> tuple[float, ...]:
    """Parse ``"0.1,1,10"`` (or a list) into a tuple of finite positive floats."""
    items = _items(value)
    if not items:
        raise InputError(f"{name}: expected a comma-separated list of numbers, got {value!r}")
    return tuple(check_positive_float(name, item, allow_zero) for item in items)


# -- argparse types (each raises InputError, which comparisons.cli prints on one line) ----------
def int_list_arg(name: str, minimum: int = 1) -> Callable[[Any], tuple[int, ...]]:
    """``type=`` for a flag such as ``--n 100,200,400``."""
    return lambda text: parse_int_list(name, text, minimum)


def float_list_arg(name: str, allow_zero: bool = False) -> Callable[[Any], tuple[float, ...]]:
    """``type=`` for a flag such as ``--beta 0.5,1,2``."""
    return lambda text: parse_float_list(name, text, allow_zero)


def positive_int_arg(name: str, minimum: int = 1) -> Callable[[Any], int]:
    """``type=`` for an integer flag ``>= minimum`` (``--workers``, ``--draws``)."""
    def parse(text: Any) -> int:
        try:
            value = int(text) if not isinstance(text, (bool, float)) else text
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected an integer >= {minimum}, got {text!r}") from None
        return check_positive_int(name, value, minimum)

    return parse


def positive_float_arg(name: str, allow_zero: bool = False) -> Callable[[Any], float]:
    """``type=`` for a positive number flag (``--lr``, ``--beta``)."""
    return lambda text: check_positive_float(name, text, allow_zero)


# -- TOML ---------------------------------------------------------------------------------------
def load_config_section(path: str | os.PathLike, section: str,
                        allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """Read table ``[section]`` of the TOML file ``path``; keys normalised to ``snake_case``.

    Parameters
    ----------
    path : path
    section : str
        Table name, usually the subcommand (``"bayes"``, ``"sgd"``); dotted names such as
        ``"sgd.llc"`` reach nested tables.
    allowed : iterable of str, optional
        Allowed keys (snake_case); an unknown key raises InputError naming it.

    Returns
    -------
    dict
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise InputError(f"--config: expected a readable TOML file, got {str(path)!r} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"--config: expected valid TOML in {str(path)!r}, got {exc}") from None
    table: Any = data
    for part in section.split("."):
        if not isinstance(table, dict) or not isinstance(table.get(part), dict):
            found = sorted(k for k, v in data.items() if isinstance(v, dict))
            raise InputError(f"--config {path}: expected a [{section}] table, got "
                             f"{'tables ' + ', '.join(found) if found else 'none'}")
        table = table[part]
    out = {str(k).replace("-", "_"): v for k, v in table.items()}
    if allowed is not None:
        allowed = set(allowed)
        for key in out:
            if key not in allowed:
                raise InputError(f"--config {path} [{section}]: unknown key {key!r}; expected one of "
                                 f"{', '.join(sorted(allowed))}")
    return out


def merge_config(file_values: Mapping[str, Any], explicit: Mapping[str, Any],
                 allowed: Iterable[str], source: str = "config") -> dict[str, Any]:
    """Merge values from a file under explicit ones (explicit wins); unknown file keys raise.

    ``explicit`` holds only the values the user actually gave (not defaults).

    Examples
    --------
    >>> merge_config({"runs": 10, "lr": 0.1}, {"runs": 5}, ["runs", "lr"])
    {'runs': 5, 'lr': 0.1}
    """
    allowed = set(allowed)
    for key in file_values:
        if key not in allowed:
            raise InputError(f"{source}: unknown key {key!r}; expected one of {', '.join(sorted(allowed))}")
    return {**dict(file_values), **dict(explicit)}


def find_config_arg(argv: Sequence[str], flag: str = "--config") -> str | None:
    """Return the value of ``flag`` in ``argv`` (``--config F`` or ``--config=F``), else None."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == flag:
            if i + 1 >= len(argv):
                raise InputError(f"{flag}: expected a TOML file path, got nothing")
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def apply_config_defaults(parser: argparse.ArgumentParser, path: str | os.PathLike,
                          section: str) -> dict[str, Any]:
    """Set ``parser``'s defaults from ``[section]`` of a TOML file; return the values applied.

    Keys are the parser's long options without dashes (``draws``, ``n``, ``target-accept``).
    A value reaches the action's ``type=`` function exactly like a command-line string (lists
    are joined with commas), so the same validation and messages apply; booleans set
    ``store_true``/``store_false`` flags; ``choices`` are checked. Flags given on the command
    line override these defaults.
    """
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if action.dest in (argparse.SUPPRESS, "help", "config") or not action.option_strings:
            continue
        actions[action.dest] = action
        for opt in action.option_strings:
            if opt.startswith("--"):
                actions[opt[2:].replace("-", "_")] = action
    values = load_config_section(path, section, allowed=sorted(actions))
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        action = actions[key]
        flag = max(action.option_strings, key=len)
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise InputError(f"--config [{section}] {key}: expected true or false, got {value!r}")
            defaults[action.dest] = value
            continue
        if isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        if action.type is not None:
            try:
                converted = action.type(text)
            except InputError as exc:
                raise InputError(f"--config [{section}] {key}: {str(exc).split(': ', 1)[-1]}") from None
            except (TypeError, ValueError):
                raise InputError(f"--config [{section}] {key}: expected a value for {flag}, got {value!r}") from None
        else:
            converted = text
        if action.choices is not None and converted not in action.choices:
            raise InputError(f"--config [{section}] {key}: expected one of "
                             f"{', '.join(map(str, action.choices))}, got {value!r}")
        if action.dest == "out" and not str(converted).strip():
            raise InputError(f"--config [{section}] out: expected a folder path, got {value!r}")
        defaults[action.dest] = converted
    parser.set_defaults(**defaults)
    for action in parser._actions:  # a flag the file gives is no longer required on the command line
        if action.required and action.dest in defaults:
            action.required = False
    return defaults
