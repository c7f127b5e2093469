"""The ``tms-phases`` command line.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Modules are imported lazily, only for the subcommand being run, so that
``tms-phases kgons`` never pays for importing torch or PyMC.

The flags of an engine's parameters are generated from the fields of its config dataclass
(:mod:`comparisons.cli.flags`): one default, one help text and one validator per parameter, and
an error of the validator names the flag. ``reproduce`` builds the same configs and calls the
same functions as ``bayes`` and ``sgd``.

Bad input raises :class:`comparisons.errors.InputError`; :func:`main` prints its message on one
line to stderr and exits with status 2. ``--config FILE.toml`` gives any subcommand its defaults
from the file's ``[subcommand]`` table (keys are the long flag names); explicit flags win.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Sequence

from ..config_file import apply_config_defaults, find_config_arg
from ..errors import InputError

__all__ = ["main", "SUBCOMMANDS"]

#: subcommand name -> (module path, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "kgons": ("comparisons.cli.theory", "table of the k-gon critical points (phases) for c features"),
    "theory": ("comparisons.cli.theory", "free-energy theory: crossings and dominant phase against n"),
    "bayes": ("comparisons.cli.bayes", "posterior over a ladder of n (replica exchange by default; NUTS with "
              "the ladder bridge with --sampler nuts) and the Bayesian phase occupancy"),
    "sgd": ("comparisons.cli.sgd", "SGD trajectory ensemble, LLC along it and the dynamical phase sequence"),
    "free-energy": ("comparisons.cli.free_energy", "Bayes free energy -log Z_n by SMC and per-phase "
                    "local free energies against the asymptotic formula"),
    "llc": ("comparisons.cli.llc", "local learning coefficient of a phase by NUTS or SGLD; sweeps write CSV and llc_vs_n.png"),
    "reproduce": ("comparisons.cli.reproduce", "theory + Bayesian sweep + SGD ensemble -> one report"),
    "docs": ("comparisons.docs", "build the documentation site (strict), or render and check its results pages"),
}


#: subcommands whose --out folder has one owner (comparisons.folder): they take --replace
FOLDER_COMMANDS = ("bayes", "sgd", "free-energy", "llc", "reproduce")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, no usage dump
        choice = re.match(r"argument ([^:]+): invalid choice: (.*) \(choose from (.*)\)$", message)
        if choice:  # in the project's words: "--flag: expected one of a, b, got 'x'"
            flag = choice.group(1).split("/")[-1]
            raise InputError(f"{flag}: expected one of {choice.group(3).replace(chr(39), '')}, "
                             f"got {choice.group(2)}")
        raise InputError(f"{self.prog}: {message}")

    def _get_value(self, action, arg_string):  # keep InputError messages from type= functions
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as exc:
            cause = exc.__context__
            if isinstance(cause, InputError):
                raise InputError(f"{self.prog}: {cause}") from None
            raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; import the module of subcommand ``only`` (or of every subcommand)."""
    parser = _Parser(
        prog="tms-phases",
        description="Phase transitions in the Toy Model of Superposition: theory (k-gons, free "
        "energy), Bayesian posteriors over a ladder of n (sampled by replica exchange by default, or by "
        "NUTS with --sampler nuts), SGD trajectories with LLC estimates.",
    )
    # hand-written: an option of the program, not of any command's config
    parser.add_argument("--version", action="store_true", help="print the package version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # engine not installed in this environment
                continue
            getattr(module, f"add_{name.replace('-', '_')}_arguments", module.add_arguments)(p)
            p.set_defaults(_run=getattr(module, f"run_{name.replace('-', '_')}", getattr(module, "run", None)))
            if name in FOLDER_COMMANDS and "--replace" not in p._option_string_actions:
                # hand-written: one option of every folder-writing command (comparisons.folder), no config's
                p.add_argument("--replace", action="store_true",
                               help="if --out holds the outputs of another job or sampler, move its files "
                                    "to --out/unused/ instead of refusing (comparisons.folder)")
            if "--config" not in p._option_string_actions:
                # hand-written: the TOML file of defaults of every command, read before the flags
                p.add_argument("--config", default=None, metavar="TOML",
                               help=f"TOML file whose [{name}] table gives defaults; explicit flags win")
    return parser


def _check_out(argv: Sequence[str]) -> None:
    """Refuse an empty ``--out`` (``--out ''`` or ``--out=``): it would write into the current folder."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--out" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--out="):
            value = arg.split("=", 1)[1]
        if value is not None and not value.strip():
            raise InputError(f"--out: expected a folder path, got {value!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tms-phases``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MPLBACKEND", "Agg")  # the CLI only writes figures to files
    command = next((a for a in argv if not a.startswith("-")), None)
    from ..contracts import package_version

    if argv == ["--version"]:  # before the parser: building it imports every engine
        print(f"tms-phases {package_version()}")
        return 0
    try:
        _check_out(argv)
        parser = build_parser(command if command in SUBCOMMANDS else None)
        config_path = find_config_arg(argv)
        if config_path is not None and command in SUBCOMMANDS:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            apply_config_defaults(sub.choices[command], config_path, command)
        args = parser.parse_args(argv)
        if getattr(args, "version", False) and getattr(args, "_run", None) is None:
            print(f"tms-phases {package_version()}")
            return 0
        if getattr(args, "_run", None) is None:
            parser.print_help()
            return 0 if not argv or argv[0] in ("-h", "--help") else 2
        from ..folder import set_replace_default

        set_replace_default(getattr(args, "replace", False))
        try:
            return int(args._run(args) or 0)
        finally:
            set_replace_default(False)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `tms-phases kgons | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished parts are kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
