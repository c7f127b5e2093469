"""``tms-phases sgd``: train an SGD ensemble, estimate the LLC along it, segment the phases.

Writes into ``--out``: ``trajectory.nc`` (the trajectory Dataset with LLC), ``sequences.csv``,
``transitions.csv``, ``paths.csv`` (structural labels), ``paths_by_loss.csv`` (loss-level labels),
``labelling_comparison.csv`` (paths under both), ``time_in_phase.csv``, ``summary.json``,
``staircase.png`` and ``plateaus.png``. Re-running with the same settings reuses an intact
``trajectory.nc`` (training and/or LLC are skipped when their configuration hashes match).
This module parses the flags into the configs; the job itself is
:func:`comparisons.jobs.sgd.run_ensemble`.
"""

from __future__ import annotations

__all__ = ["add_arguments", "run", "sgd_configs"]

import argparse
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config_file import positive_int_arg
from ..errors import InputError
from .flags import FlagTable, is_given

HELP = "SGD trajectory ensemble, LLC along it and the dynamical phase sequence"
#: largest c the k-gon enumeration (comparisons.theory.enumerate_phases) covers
THEORY_MAX_FEATURES = 8


def train_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.TrainConfig` (every field with a help text)."""
    from ..jobs.sgd import TrainConfig

    return FlagTable(TrainConfig)


def llc_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.LLCConfig`, as ``--llc-*`` (its seed is the training seed)."""
    from ..jobs.sgd import LLCConfig

    return FlagTable(LLCConfig, prefix="llc-")


def _sgd_preset(text: str) -> str:
    from ..jobs.sgd import PRESETS

    if text not in PRESETS:
        raise InputError(f"--preset: expected one of {', '.join(PRESETS)}, got {text!r}")
    return text


@dataclass(frozen=True)
class SGDCommand:
    """The options of ``tms-phases sgd`` beside :class:`sgd_tms.TrainConfig` and :class:`sgd_tms.LLCConfig`."""

    preset: str = field(default="paper", metadata={
        "help": "starting configuration: paper (100 runs of the paper protocol), quick (32 runs of it) or smoke "
                "(8 short runs at n = 200, seconds)", "parse": _sgd_preset, "metavar": "{paper,quick,smoke}"})
    out: str | None = field(default=None, metadata={
        "help": "output folder (created; existing results are reused)", "metavar": "OUT", "required": True})
    no_llc: bool = field(default=False, metadata={"help": "skip the LLC estimation"})
    force: bool = field(default=False, metadata={"help": "recompute even if an intact trajectory.nc matches"})
    plot_runs: int = field(default=4, metadata={"help": "runs drawn in staircase.png", "metavar": "PLOT_RUNS",
                                                "parse": positive_int_arg("--plot-runs")})
    block_runs: int | None = field(default=None, metadata={
        "help": "runs per task of the sweep (default: all runs in one batched task; smaller blocks spread the "
                "work over processes or a Dask cluster)", "metavar": "BLOCK_RUNS",
        "parse": positive_int_arg("--block-runs")})


def command_flags(*fields: str) -> FlagTable:
    """The flags of :class:`SGDCommand` named ``fields`` (parsed to their defaults when not given)."""
    return FlagTable(SGDCommand, fields=fields, defaults=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sgd`` options on ``parser``."""
    from ..config_file import DefaultsHelpFormatter

    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("Unset training options take the preset's value (paper: c=6, r=2, n=1000, batch 20, "
                     "lr 0.005, 4500 epochs, 4-gon + N(0, 0.01^2) init, checkpoint every 30 epochs). "
                     "LLC defaults follow the paper: full-batch localised SGLD, step 1e-3, gamma 1, "
                     "500 draws, beta = 1/log n.")
    g = parser.add_argument_group("ensemble and training")
    command_flags("preset", "out").add_to(g)
    train_flags().add_to(g)
    l = parser.add_argument_group("LLC estimation (localised SGLD)")
    command_flags("no_llc").add_to(l)
    llc_flags().add_to(l)
    command_flags("force", "plot_runs", "block_runs").add_to(parser.add_argument_group("output"))
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)


def sgd_configs(preset: str = "paper", train: Mapping[str, Any] | None = None,
                llc: Mapping[str, Any] | None = None):
    """``(TrainConfig, LLCConfig or None)``: the preset with the ``train`` fields given on top, and
    the estimator with the ``llc`` fields (None: no LLC). None values mean "not given"; an
    InputError names the flag of the bad field."""
    from ..jobs.sgd import LLCConfig, train_preset

    tc = train_flags().build(train_preset, preset, **{k: v for k, v in (train or {}).items() if v is not None})
    lc = None if llc is None else llc_flags().build(
        LLCConfig, seed=tc.seed, **{k: v for k, v in llc.items() if v is not None})
    if tc.hidden == 2 and tc.features > THEORY_MAX_FEATURES:  # the phase labels need the k-gon theory
        raise InputError(f"--features: expected 2 <= c <= {THEORY_MAX_FEATURES} (the k-gon phases that "
                         f"label the checkpoints), got {tc.features}")
    return tc, lc


def _configs(args):
    if args.no_llc:
        given = [f.flag for f in llc_flags() if is_given(getattr(args, f.dest, None))]
        if given:
            raise InputError(f"{', '.join(given)}: LLC flags, not used with --no-llc; drop them or the --no-llc")
    return sgd_configs(args.preset, train_flags().given(args), None if args.no_llc else llc_flags().given(args))


def run(args: argparse.Namespace) -> int:
    """Run the ``sgd`` subcommand; returns the exit status (1 when every run diverged)."""
    from ..sweep import sweep_kwargs

    tc, lc = _configs(args)
    kw = sweep_kwargs(args)
    progress = kw.pop("progress")
    from ..jobs.sgd import run_ensemble

    return run_ensemble(tc, lc, args.out, progress=progress, force=args.force, block_runs=args.block_runs,
                        plot_runs=args.plot_runs, sweep=kw, yes=getattr(args, "yes", False)).status
