"""``tms-phases llc``: the local learning coefficient of a phase by NUTS or SGLD, and sweeps.

Single estimate::

    tms-phases llc --features 6 --phase 6 --n 10000 --method sgld --format json

prints ``{"phase", "n", "method", "llc", "se", "theory"}`` (``theory`` is ``Phase.llc``, or null on
a non-C^2 wall). Sweep (any of ``--phases/--ns/--methods`` with ``--out DIR``) writes
``DIR/llc_table.csv`` (one row per phase x n x method, written as rows finish) and
``DIR/llc_vs_n.png``. ``--calibrate --steps ... --gammas ...`` writes ``DIR/calibration.csv``:
the SGLD step x gamma sweep at ``--phase``/``--n`` against NUTS at each gamma.

Measured learning coefficients on the exact population loss (issue 13)::

    tms-phases llc --measure-phases -c 6 --phases 4,4+,4++ --out comparisons/theory/data

writes ``DIR/llc_measured_c6.json`` (rewritten after every phase) and
``DIR/llc_measured_c6.png`` (lambda(m) against m with the extrapolations), by
the job :func:`comparisons.jobs.llc.measure_phase_llcs` with the engine's ``MEASURE_DEFAULTS``. With ``--out
comparisons/theory/data`` the table is the one the theory layer reads (``Phase.llc_measured``).

The flags of the settings every LLC estimate shares (``--gamma``, ``--beta``, ``--chains``,
``--draws``) are generated from :class:`comparisons.theory.LLCSettings` (:func:`llc_flags`), the
fields ``tms-phases sgd --llc-*`` and NUTS-LLC (:class:`bayes_tms.llc.NUTSLLCConfig`) inherit:
one default, help text and check each. ``--seed`` (the data's and the samplers' root),
``--warmup`` (the ``warmup`` of either sampler) and ``--step`` (SGLD, calibrated default) are
this command's own.

The engines are imported inside :func:`run`, never at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from dataclasses import dataclass, field

from ..config_file import float_list_arg, positive_float_arg, positive_int_arg
from ..errors import InputError
from ..theory import LLCSettings
from .flags import FlagTable, is_given, problem_flags

HELP = "local learning coefficient of a phase by NUTS or SGLD; sweeps write CSV and llc_vs_n.png"
FORMATS = ("text", "json")
#: what ``--chains``, ``--draws``, ``--warmup`` and ``--step`` default to, per method
METHOD_DEFAULTS = ("defaults by --method: nuts 4 chains x 1000 draws after 1000 warm-up steps; "
                   "sgld 32 chains x 8000 steps incl. 2000 warm-up, step 0.1 / (n beta*)")


#: defaults of ``--steps`` and ``--gammas`` (``--calibrate``)
CALIBRATE_STEPS = (0.01, 0.03, 0.1, 0.3, 1.0)
CALIBRATE_GAMMAS = (1.0, 10.0, 100.0)


def llc_flags() -> FlagTable:
    """The flags of the settings shared by every LLC estimate (:class:`comparisons.theory.LLCSettings`):
    ``--gamma``, ``--beta``, ``--chains``, ``--draws``; the defaults of the last two depend on the
    method (:data:`METHOD_DEFAULTS`)."""
    return FlagTable(LLCSettings, fields=("gamma", "beta", "chains", "draws"), hide_default=("chains", "draws"))


def llc_settings(args: argparse.Namespace) -> LLCSettings:
    """The shared settings given on the command line, checked; an error names its flag."""
    table = llc_flags()
    return table.build(LLCSettings, **table.given(args))


def _n(name: str):
    """Sample size >= 2; accepts ``10000`` and ``1e4``."""
    def parse(text: str) -> int:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected an integer >= 2, got {text!r}") from None
        if not (math.isfinite(value) and value == int(value) and value >= 2):
            raise InputError(f"{name}: expected an integer >= 2, got {text!r}")
        return int(value)
    return parse


def _n_list(text: str) -> tuple[int, ...]:
    parts = [p for p in str(text).replace(",", " ").split()]
    if not parts:
        raise InputError(f"--ns: expected a comma-separated list of integers >= 2, got {text!r}")
    return tuple(_n("--ns")(p) for p in parts)


def _choice(name: str, choices: tuple[str, ...]):
    def parse(value: str) -> str:
        if value not in choices:
            raise InputError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value
    return parse


def _methods(text: str) -> tuple[str, ...]:
    from ..analysis.llc_accuracy import METHODS

    return tuple(_choice("--methods", METHODS)(m) for m in str(text).replace(",", " ").split())


def _labels(text: str) -> tuple[str, ...]:
    labels = tuple(str(text).replace(",", " ").split())
    if not labels:
        raise InputError(f"--phases: expected a comma-separated list of phase labels, got {text!r}")
    return labels


@dataclass(frozen=True)
class LLCCommand:
    """The options of ``tms-phases llc`` beside ``--features`` and the shared LLC settings
    (:class:`comparisons.theory.LLCSettings`): one estimate, its sampler, and the sweeps."""

    phase: str | None = field(default=None, metadata={"help": "phase label (see `tms-phases kgons`)",
                                                       "metavar": "LABEL", "default_text": "none"})
    n: int | None = field(default=None, metadata={"help": "sample size (>= 2; 1e4 accepted)", "metavar": "N",
                                                  "parse": _n("--n"), "default_text": "none"})
    method: str | None = field(default=None, metadata={
        "help": "nuts (exact MCMC) or sgld (default: nuts)", "choices": ("nuts", "sgld")})
    format: str = field(default="text", metadata={"help": "text or json", "choices": FORMATS})
    seed: int = field(default=0, metadata={"help": "seed of the data (sample_inputs) and of the sampler",
                                           "metavar": "SEED", "parse": positive_int_arg("--seed", minimum=0)})
    # the sampler
    warmup: int | None = field(default=None, metadata={
        "help": "warm-up steps per chain, NUTS / SGLD (default 1000 / 2000)", "metavar": "WARMUP",
        "parse": positive_int_arg("--warmup", minimum=0)})
    step: float | None = field(default=None, metadata={
        "help": "SGLD step size (default 0.1 / (n beta*), the calibrated choice)", "metavar": "STEP",
        "parse": positive_float_arg("--step")})
    # the sweeps (need --out)
    phases: tuple[str, ...] | None = field(default=None, metadata={
        "help": "phases of the table (default for c = 6: 4,4+,4++,5,5+,6)", "metavar": "L1,L2", "parse": _labels})
    ns: tuple[int, ...] | None = field(default=None, metadata={
        "help": "sample sizes (default 1e3,5e3,1e4,1e5)", "metavar": "N1,N2", "parse": _n_list})
    methods: tuple[str, ...] | None = field(default=None, metadata={
        "help": "methods (default nuts,sgld)", "metavar": "M1,M2", "parse": _methods})
    calibrate: bool = field(default=False, metadata={
        "help": "SGLD step x gamma sweep at --phase/--n against NUTS (writes calibration.csv)"})
    steps: tuple[float, ...] | None = field(default=None, metadata={
        "help": "with --calibrate: steps as epsilon * n beta; default " + ",".join(f"{v:g}" for v in CALIBRATE_STEPS),
        "metavar": "S1,S2", "parse": float_list_arg("--steps")})
    gammas: tuple[float, ...] | None = field(default=None, metadata={
        "help": "with --calibrate: gammas; default " + ",".join(f"{v:g}" for v in CALIBRATE_GAMMAS),
        "metavar": "G1,G2", "parse": float_list_arg("--gammas")})
    measure_phases: bool = field(default=False, metadata={
        "help": "measure the LLC of --phases on the exact population loss (NUTS + volume scaling) and write "
                "DIR/llc_measured_cC.json and .png"})
    out: Path | None = field(default=None, metadata={
        "help": "folder for the sweep's llc_table.csv and llc_vs_n.png", "metavar": "DIR", "parse": Path,
        "default_text": "none"})


def command_flags(*fields: str) -> FlagTable:
    """The flags of :class:`LLCCommand` named ``fields`` (parsed to their defaults when not given)."""
    return FlagTable(LLCCommand, fields=fields, defaults=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    problem_flags().add_to(parser)
    command_flags("phase", "n", "method", "format", "seed").add_to(parser)
    sampler = parser.add_argument_group("sampler", METHOD_DEFAULTS)
    llc_flags().add_to(sampler)
    command_flags("warmup", "step").add_to(sampler)
    command_flags("phases", "ns", "methods", "calibrate", "steps", "gammas", "measure_phases",
                  "out").add_to(parser.add_argument_group("sweep (needs --out)"))
    _add_sweep(parser)


def _add_sweep(parser: argparse.ArgumentParser) -> None:
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser, executor="inline", executor_help=(
        "inline: one task at a time in this process, since the samplers use the cores themselves; "
        "process: --workers of them at once in a process pool; Dask with --scheduler/--dask-local"))


def _sampler_kwargs(args) -> dict:
    """Keywords of :func:`comparisons.jobs.llc_accuracy.llc_estimate` (and of the sweep's task keys).

    ``gamma`` is the checked shared setting; ``chains``/``draws`` stay None unless given (the
    method's defaults apply); ``beta`` appears only when given, so that task keys stay as they were.
    """
    settings = llc_settings(args)
    kw = {"seed": args.seed, "gamma": settings.gamma, "chains": args.chains, "draws": args.draws,
          "warmup": args.warmup, "step_size": args.step}
    if settings.beta is not None:
        kw["beta"] = settings.beta
    return kw


def _given(args: argparse.Namespace, dests: tuple[str, ...]) -> list[str]:
    """The flags among ``dests`` given on the command line (or in a TOML file), as ``--flag``."""
    return ["--" + d.replace("_", "-") for d in dests if is_given(getattr(args, d, None))]


def refuse_unused(args: argparse.Namespace) -> None:
    """Refuse, in one line naming them and the mode that uses them, flags this mode would ignore.

    Modes: ``--measure-phases`` (its sampler settings are ``MEASURE_DEFAULTS``), ``--calibrate``,
    a sweep (``--out`` with ``--phases/--ns/--methods``) and a single estimate (``--phase --n``).
    """
    if args.measure_phases:
        given = _given(args, ("phase", "n", "method", "ns", "methods", "calibrate", "steps", "gammas", "gamma",
                              "beta", "chains", "draws", "warmup", "step", "workers", "scheduler", "dask_local"))
        if given:
            raise InputError(f"--measure-phases: expected none of {', '.join(given)} (not used: it measures "
                             "--phases with NUTS and volume scaling at the settings of "
                             "bayes_tms.llc.MEASURE_DEFAULTS), got them")
        if args.phases is not None and len(set(args.phases)) != len(args.phases):
            twice = sorted({p for p in args.phases if args.phases.count(p) > 1})
            raise InputError(f"--phases: expected each phase once, got {', '.join(twice)} more than once")
        return
    if not args.calibrate:
        given = _given(args, ("steps", "gammas"))
        if given:
            raise InputError(f"{', '.join(given)}: flags of --calibrate, not used without it")
    if args.out is None:
        given = _given(args, ("workers", "scheduler", "dask_local"))
        if given:
            raise InputError(f"{', '.join(given)}: flags of a sweep (--out with --phases/--ns/--methods), "
                             "not used by a single estimate")


def run(args: argparse.Namespace) -> int:
    from ..analysis import llc_accuracy as ana
    from ..jobs import llc_accuracy as job

    llc_settings(args)  # every shared setting checked before any work
    refuse_unused(args)
    args.method = args.method or "nuts"
    args.steps = args.steps or CALIBRATE_STEPS
    args.gammas = args.gammas or CALIBRATE_GAMMAS
    if args.draws is not None and args.warmup is not None and args.method == "sgld" \
            and args.warmup >= args.draws:
        raise InputError(f"--warmup: expected fewer than --draws = {args.draws} for SGLD, got {args.warmup}")
    if getattr(args, "measure_phases", False):
        return _run_measure(args)
    sweep = args.out is not None
    if not sweep and (args.phases or args.ns or args.methods or args.calibrate):
        raise InputError("--out: expected a folder for the sweep (--phases/--ns/--methods/--calibrate), got none")
    if sweep:
        from ..io import check_out_path

        out = check_out_path(args.out)  # created once the estimate is confirmed: a refused run leaves nothing
        if args.calibrate:
            if args.phase is None or args.n is None:
                raise InputError("--calibrate: expected --phase and --n, got "
                                 f"--phase {args.phase!r} --n {args.n!r}")
            path = job.run_calibration(args.features, args.phase, args.n, args.steps, args.gammas, out,
                                       seed=args.seed, chains=args.chains, draws=args.draws,
                                       warmup=args.warmup, yes=getattr(args, "yes", False))
            print(f"wrote {path}")
            return 0
        from ..sweep import pool_when_asked, sweep_kwargs

        kw = _sampler_kwargs(args)
        kw.pop("progress", None)
        pool_when_asked(args, processes=False)
        status, rows = job.run_llc_sweep(args.features, args.phases or ([args.phase] if args.phase else None),
                                         args.ns or ((args.n,) if args.n else (1000, 5000, 10_000, 100_000)),
                                         args.methods or ana.METHODS, out, sampler=kw, sweep=sweep_kwargs(args),
                                         yes=getattr(args, "yes", False))
        if status:
            return status
        if args.format == "text":
            for row in rows:
                print(f"{row['phase']:>5} n={row['n']:<8d} {row['method']:<5} llc={row['llc']:.3f} "
                      f"+- {row['se']:.3f}  theory={row['theory']:g} ({row['theory_kind']})  "
                      f"{row['wall_s']:.1f}s", flush=True)
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        else:
            print(f"wrote {out / 'llc_table.csv'} and {out / 'llc_vs_n.png'}")
        return 0
    if args.phase is None or args.n is None:
        raise InputError(f"llc: expected --phase and --n, got --phase {args.phase!r} --n {args.n!r}")
    ana.theory_llc(args.features, args.phase)  # label check before any sampling
    if args.method == "nuts":
        import importlib.util

        if importlib.util.find_spec("bayes_tms") is None:  # asked, not imported: the CLI imports no engine
            raise InputError("--method: expected an installed bayes_tms (PyMC) for nuts, got none") from None
    from ..cost import confirm, llc_seconds

    confirm(llc_seconds([{"method": args.method, **_sampler_kwargs(args)}]), "one LLC estimate",
            getattr(args, "yes", False))
    progress = not getattr(args, "no_progress", False)
    if progress:
        print(f"estimating the LLC of {args.phase} at n = {args.n} by {args.method}"
              + (" (the model is compiled first: about 10-30 s)" if args.method == "nuts" else ""),
              file=sys.stderr, flush=True)
    row = job.llc_estimate(args.features, args.phase, args.n, args.method, progress=progress,
                           **_sampler_kwargs(args))
    from ..theory import enumerate_phases

    exact = next(p for p in enumerate_phases(args.features) if p.label == args.phase).llc
    if args.format == "json":
        print(json.dumps({"phase": row["phase"], "n": row["n"], "method": row["method"],
                          "llc": row["llc"], "se": row["se"], "theory": exact,
                          "theory_kind": row["theory_kind"], "gamma": row["gamma"], "nbeta": row["nbeta"],
                          "seed": args.seed, "wall_s": row["wall_s"], "diagnostics": row["diagnostics"],
                          "regime": row["regime"]}, default=_json_number))
    else:
        th = f"{exact:g}" if exact is not None else f"none (non-C^2; rank/2 bound {row['theory']:g})"
        print(f"phase {row['phase']} (c = {args.features}), n = {row['n']}, {row['method']} "
              f"({row['diagnostics']['backend']}): llc = {row['llc']:.3f} +- {row['se']:.3f}; theory {th}; "
              f"{row['diagnostic']}; {row['wall_s']:.1f}s")
        if not row["regime"]["in_validated_regime"]:
            print(f"caveat: {row['regime']['reason']}")
    return 0


def _json_number(value):
    """numpy scalars as Python numbers for ``json.dumps``."""
    return value.item() if hasattr(value, "item") else str(value)


def _run_measure(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from ..io import check_writable_dir

    if args.out is None:
        raise InputError("--measure-phases: expected --out DIR for the table, got none")
    from ..cost import confirm
    from ..io import check_out_path
    from ..theory import enumerate_phases

    known = [p.label for p in enumerate_phases(args.features)]
    labels = args.phases or tuple(lab for lab in known if lab[0] in "456")
    missing = [lab for lab in labels if lab not in known]
    if missing:
        raise InputError(f"--phases: expected phases of c = {args.features} ({', '.join(known)}), "
                         f"got {', '.join(missing)}")
    try:
        from ..jobs.llc import PARTS, measure_phase_llcs, plan_measurement, table_paths
    except ImportError:
        raise InputError("--measure-phases: expected an installed bayes_tms (PyMC), got none") from None
    path, fig_path = table_paths(check_out_path(args.out), args.features)
    from ..folder import check_folder

    check_folder(args.out, "llc --measure-phases")  # refused before the estimate, not after it
    # per phase, the parts a stored record does not hold under today's settings (all: not stored)
    parts, seconds = plan_measurement(path, args.features, labels, seed=args.seed)
    todo = [lab for lab in labels if parts[lab]]
    partial = [f"{lab}: {', '.join(parts[lab])}" for lab in todo if len(parts[lab]) < len(PARTS)]
    confirm(seconds,
            f"the LLC of {len(todo)} phase(s) ({', '.join(todo) or 'none'}; {len(labels) - len(todo)} stored"
            + (f"; only {'; '.join(partial)}" if partial else "") + ") by NUTS at 5 values of m and volume scaling",
            getattr(args, "yes", False))
    out = check_writable_dir(args.out)
    cmd = "tms-phases " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with _progress_lines(enabled=not getattr(args, "no_progress", False)):
        table = measure_phase_llcs(args.features, labels, out, seed=args.seed, command=cmd,
                                   progress=args.format == "text")
    if args.format == "json":
        print(json.dumps([{k: r[k] for k in ("phase", "llc_measured", "llc_se", "method", "volume_llc",
                                             "volume_se", "llc_exact", "llc_bound")}
                          for r in table["phases"]], indent=2))
    else:
        print(f"wrote {path} and {fig_path}")
    return 0


class _StatusLine:
    """Logging handler of the measurement's progress: one line on stderr per step, prefixed by the
    phase being measured (``[3-- 4 of 7] method nuts, grid point m = 1e+06 (3 of 5)``)."""

    def __init__(self) -> None:
        import logging

        self.phase = ""
        self.handler = logging.Handler()
        self.handler.emit = self.emit

    def emit(self, record) -> None:
        text = record.getMessage()
        if text.startswith("phase "):
            self.phase = text[len("phase "):]
            print(f"[{self.phase}] starting", file=sys.stderr, flush=True)
        else:
            print(f"[{self.phase}] {text}", file=sys.stderr, flush=True)


class _progress_lines:
    """Context: the engine's progress log (:mod:`bayes_tms.llc`) printed while inside."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self):
        import logging

        if self.enabled:
            self.status = _StatusLine()
            self.logger = logging.getLogger("bayes_tms.llc")
            self.level = self.logger.level
            self.logger.addHandler(self.status.handler)
            self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.logger.removeHandler(self.status.handler)
            self.logger.setLevel(self.level)


add_llc_arguments = add_arguments
run_llc = run
