"""Command-line flags generated from the fields of the engines' configuration dataclasses.

Each parameter has one home: a field of a frozen config dataclass (:class:`bayes_tms.BayesConfig`,
:class:`bayes_tms.PTConfig`, :class:`sgd_tms.TrainConfig`, :class:`sgd_tms.LLCConfig`). The field
holds the default, its ``metadata`` the help text (and optionally the flag name, metavar, choices
and the text parser), and the class's ``__post_init__`` the validation. A :class:`FlagTable` turns
the fields into ``argparse`` flags; :meth:`FlagTable.build` builds the config from the flags given
and rewrites an :class:`~comparisons.errors.InputError` of the validator so that it names the flag
(``--chains: expected an integer >= 1, got 0``).

Field metadata keys (all optional except ``help``):

``help``
    One line of help; the default is appended unless the text already states one.
``flag``
    The flag without dashes or prefix (default: the field name, ``_`` as ``-``).
``metavar``, ``choices``
    As in ``argparse``; ``choices`` are shown in the help, validation stays in ``__post_init__``.
``parse``
    ``str -> value``: the syntax of the value only (default: from the field's type: ``int``,
    ``float``, comma-separated ``int`` tuples, ``str``; ``bool`` fields become switches).
``default_text``
    What the help shows as the default, where the dataclass default needs words (``1/log n``).
``aliases``
    Further option strings of the flag (``("-c",)``).
``required``
    The flag must be given (argparse's ``required``).

Flags of an engine config default to None ("not given"), so that a preset's value applies
unless the flag is given; the help shows the dataclass default. A command's own options (a
dataclass of the CLI module: output folder, preset, sampler, ...) are tables with
``defaults=True``: the parsed value is the field's default when the flag is not given, and a
field with ``choices`` refuses any other value at parse time.
"""

from __future__ import annotations

__all__ = ["Flag", "FlagTable", "Problem", "parse_int", "parse_float", "parse_int_tuple", "parse_choice",
           "parse_features", "flag_errors", "is_given", "problem_flags"]

import argparse
import contextlib
import dataclasses
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..errors import InputError


def parse_int(flag: str) -> Callable[[str], int]:
    """Parser of an integer flag: the syntax only (the range is the config's to check)."""
    def parse(text: str) -> int:
        try:
            return int(str(text).strip())
        except ValueError:
            raise InputError(f"{flag}: expected an integer, got {text!r}") from None
    return parse


def parse_float(flag: str) -> Callable[[str], float]:
    """Parser of a number flag: the syntax only (finiteness and sign are the config's to check)."""
    def parse(text: str) -> float:
        try:
            return float(str(text).strip())
        except ValueError:
            raise InputError(f"{flag}: expected a number, got {text!r}") from None
    return parse


def parse_int_tuple(flag: str) -> Callable[[str], tuple[int, ...]]:
    """Parser of ``"100,200,400"`` into ``(100, 200, 400)``: the syntax only."""
    def parse(text: str) -> tuple[int, ...]:
        parts = [p for p in str(text).replace(",", " ").split()]
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            values = ()
        if not values:
            raise InputError(f"{flag}: expected comma-separated integers, got {text!r}")
        return values
    return parse


def parse_choice(flag: str, choices: tuple) -> Callable[[str], str]:
    """Parser of a flag with a fixed set of values: the value itself, or a one-line InputError."""
    def parse(text: str) -> str:
        if text not in choices:
            raise InputError(f"{flag}: expected one of {', '.join(map(str, choices))}, got {text!r}")
        return text
    return parse


_PARSERS: dict[str, Callable[[str], Callable[[str], Any]]] = {
    "int": parse_int, "float": parse_float, "float | None": parse_float, "int | None": parse_int,
    "tuple[int, ...]": parse_int_tuple,
}


@dataclasses.dataclass(frozen=True)
class Flag:
    """One generated flag: the field it sets and how it reads its value."""

    field: str
    flag: str
    dest: str
    help: str
    parse: Callable[[str], Any] | None
    metavar: str | None
    choices: tuple | None
    switch: bool
    default: Any
    default_text: str | None
    aliases: tuple = ()
    required: bool = False


def _fmt(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


class FlagTable:
    """The flags of one config dataclass (a subset of its fields, optionally with a flag prefix).

    Parameters
    ----------
    cls : dataclass type
    fields : iterable of str, optional
        Fields that become flags (default: every field with a ``help`` in its metadata).
    prefix : str
        Prepended to every flag name (``"llc-"``: ``--llc-chains``) and to its ``dest``.
    hide_default : iterable of str
        Fields whose help shows no default (the command supplies it, e.g. a required ladder).
    defaults : bool
        A command's own options: a flag not given parses to the field's default (not None), and a
        field with ``choices`` is checked at parse time.

    Examples
    --------
    >>> import argparse, dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class C:
    ...     draws: int = dataclasses.field(default=10, metadata={"help": "kept draws"})
    >>> table = FlagTable(C)
    >>> p = argparse.ArgumentParser()
    >>> table.add_to(p)
    >>> table.build(C, **table.given(p.parse_args(["--draws", "3"])))
    C(draws=3)
    """

    def __init__(self, cls: type, fields: Iterable[str] | None = None, prefix: str = "",
                 hide_default: Iterable[str] = (), defaults: bool = False) -> None:
        by_name = {f.name: f for f in dataclasses.fields(cls)}
        names = list(fields) if fields is not None else [n for n, f in by_name.items() if "help" in f.metadata]
        hidden = set(hide_default)
        self.cls, self.prefix, self.flags, self.defaults = cls, prefix, [], defaults
        for name in names:
            f = by_name[name]
            meta = f.metadata
            if "help" not in meta:
                raise TypeError(f"{cls.__name__}.{name}: a flag needs metadata['help']")
            flag = "--" + prefix + meta.get("flag", name.replace("_", "-"))
            ftype = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            switch = ftype == "bool"
            parse = meta.get("parse")
            if parse is None and not switch and ftype in _PARSERS:
                parse = _PARSERS[ftype](flag)
            elif parse is not None:
                parse = _named(parse, flag)
            if parse is None and defaults and meta.get("choices"):
                parse = parse_choice(flag, tuple(meta["choices"]))
            default = f.default if f.default is not dataclasses.MISSING else None
            self.flags.append(Flag(name, flag, (prefix + name).replace("-", "_"), meta["help"], parse,
                                   meta.get("metavar"), meta.get("choices"), switch,
                                   None if name in hidden else default,
                                   None if name in hidden else meta.get("default_text"),
                                   tuple(meta.get("aliases", ())), bool(meta.get("required", False))))

    def __iter__(self) -> Iterator[Flag]:
        return iter(self.flags)

    def add_to(self, parser) -> None:
        """Add the flags to ``parser`` (a parser or an argument group).

        Flags the parser already has are skipped: a parameter shared by two configs is one flag,
        declared by the first table added (an argument group shares its parser's flags).
        """
        taken = parser._option_string_actions
        for f in self.flags:
            if f.flag in taken:
                continue
            text = f.help
            shown = f.default_text if f.default_text is not None else (
                None if f.default is None or f.switch else _fmt(f.default))
            if shown is not None and "default" not in text and not f.required:
                text = f"{text} (default: {shown})"
            kwargs: dict[str, Any] = {"dest": f.dest, "default": f.default if self.defaults else None,
                                      "help": text.replace("%", "%%")}
            if f.required:
                kwargs["required"] = True
            if f.switch:
                parser.add_argument(f.flag, *f.aliases, action="store_true", **kwargs)
                continue
            if f.metavar:
                kwargs["metavar"] = f.metavar
            elif f.choices:
                kwargs["metavar"] = "{" + ",".join(f.choices) + "}"
            else:
                kwargs["metavar"] = f.flag.lstrip("-").upper().replace("-", "_")
            if f.parse is not None:
                kwargs["type"] = f.parse
            parser.add_argument(f.flag, *f.aliases, **kwargs)

    def given(self, args: argparse.Namespace | Mapping[str, Any]) -> dict[str, Any]:
        """``{field: value}`` of the flags given (not None) in ``args``."""
        get = args.get if isinstance(args, Mapping) else (lambda k: getattr(args, k, None))
        return {f.field: get(f.dest) for f in self.flags if get(f.dest) is not None}

    def flag_of(self, field: str) -> str:
        """The flag that sets ``field``."""
        return next(f.flag for f in self.flags if f.field == field)

    def names(self) -> dict[str, str]:
        """Every name a validator may use for a field (field, flag without dashes) -> flag."""
        out = {}
        for f in self.flags:
            out[f.field] = f.flag
            out[f.flag.lstrip("-")[len(self.prefix):]] = f.flag
        return out

    def build(self, factory: Callable[..., Any], *args: Any, **values: Any) -> Any:
        """``factory(*args, **values)`` with the validator's InputError naming the flag."""
        with flag_errors(self):
            return factory(*args, **values)


def _named(parse: Callable[[str], Any], flag: str) -> Callable[[str], Any]:
    """A metadata parser whose ValueError, LookupError or InputError becomes a one-line InputError
    naming ``flag``."""
    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError, LookupError) as exc:
            reason = str(exc).split(": ", 1)[-1] if isinstance(exc, InputError) else f"got {text!r}"
            if not reason.startswith("expected"):
                reason = f"expected a valid value, {reason}"
            raise InputError(f"{flag}: {reason}") from None
    return wrapped


@contextlib.contextmanager
def flag_errors(*tables: FlagTable) -> Iterator[None]:
    """Rewrite an InputError ``"name: expected ..."`` raised inside as ``"--flag: expected ..."``.

    ``name`` is what a config's ``__post_init__`` calls the field: the field name, the flag's
    name, or either after a tag (``"llc chains"``). Names no table knows are left as they are.
    """
    try:
        yield
    except InputError as exc:
        message = str(exc)
        name, sep, rest = message.partition(": ")
        if not sep or name.startswith("-"):
            raise
        for table in tables:
            names = table.names()
            for candidate in (name, name.split()[-1], name.replace(" ", "_")):
                if candidate in names:
                    raise InputError(f"{names[candidate]}: {rest}") from None
        raise


#: largest c the k-gon enumeration covers (:func:`comparisons.theory.enumerate_phases`)
MAX_FEATURES = 8


def parse_features(text: str) -> int:
    """The number of features ``c``, 2 to :data:`MAX_FEATURES` (the k-gon phases exist for them)."""
    try:
        c = int(str(text).strip())
    except ValueError:
        raise InputError(f"--features: expected an integer from 2 to {MAX_FEATURES}, got {text!r}") from None
    if not 2 <= c <= MAX_FEATURES:
        raise InputError(f"--features: expected an integer from 2 to {MAX_FEATURES}, got {c}")
    return c


@dataclasses.dataclass(frozen=True)
class Problem:
    """The one declaration of ``--features`` (``-c``) of the commands without a sampler config
    (``kgons``, ``theory``, ``llc``, ``reproduce``); the sampler commands read ``features`` from
    their configs (:class:`comparisons.jobs.configs.PosteriorSpec`, :class:`sgd_tms.TrainConfig`)."""

    features: int = dataclasses.field(default=6, metadata={
        "help": f"number of features c, 2 to {MAX_FEATURES} (hidden dimension r = 2)", "metavar": "C",
        "aliases": ("-c",), "parse": parse_features})


def problem_flags() -> FlagTable:
    """The flag ``--features``/``-c`` of :class:`Problem` (parsed to 6 when not given)."""
    return FlagTable(Problem, defaults=True)


def is_given(value: Any) -> bool:
    """Whether a parsed flag was given: flags default to None and switches to None or False; a given
    value may be 0 (``--copies 0``), which ``value not in (None, False)`` would miss (0 == False)."""
    return value is not None and value is not False
