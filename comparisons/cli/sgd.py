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
from typing import Any, Mapping

from .flags import FlagTable, is_given

HELP = "SGD trajectory ensemble, LLC along it and the dynamical phase sequence"
#: largest c the k-gon enumeration (comparisons.theory.enumerate_phases) covers
THEORY_MAX_FEATURES = 8


def train_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.TrainConfig` (every field with a help text)."""
    from sgd_tms.config import TrainConfig

    return FlagTable(TrainConfig)


def llc_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.LLCConfig`, as ``--llc-*`` (its seed is the training seed)."""
    from sgd_tms.config import LLCConfig

    return FlagTable(LLCConfig, prefix="llc-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sgd`` options on ``parser``."""
    from ..config_file import DefaultsHelpFormatter, positive_int_arg

    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("Unset training options take the preset's value (paper: c=6, r=2, n=1000, batch 20, "
                     "lr 0.005, 4500 epochs, 4-gon + N(0, 0.01^2) init, checkpoint every 30 epochs). "
                     "LLC defaults follow the paper: full-batch localised SGLD, step 1e-3, gamma 1, "
                     "500 draws, beta = 1/log n.")
    g = parser.add_argument_group("ensemble and training")
    from sgd_tms.config import PRESETS

    g.add_argument("--preset", default="paper", choices=tuple(PRESETS), help="starting configuration: paper (100 runs of the paper protocol), quick (32 runs of it) or "
                   "smoke (8 short runs at n = 200, seconds)")
    g.add_argument("--out", required=True, help="output folder (created; existing results are reused)")
    train_flags().add_to(g)
    l = parser.add_argument_group("LLC estimation (localised SGLD)")
    l.add_argument("--no-llc", action="store_true", help="skip the LLC estimation")
    llc_flags().add_to(l)
    o = parser.add_argument_group("output")
    o.add_argument("--force", action="store_true", help="recompute even if an intact trajectory.nc matches")
    o.add_argument("--plot-runs", type=positive_int_arg("--plot-runs"), default=4, help="runs drawn in staircase.png")
    o.add_argument("--block-runs", type=int, default=None,
                   help="runs per task of the sweep (default: all runs in one batched task; smaller "
                        "blocks spread the work over processes or a Dask cluster)")
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)


def sgd_configs(preset: str = "paper", train: Mapping[str, Any] | None = None,
                llc: Mapping[str, Any] | None = None):
    """``(TrainConfig, LLCConfig or None)``: the preset with the ``train`` fields given on top, and
    the estimator with the ``llc`` fields (None: no LLC). None values mean "not given"; an
    InputError names the flag of the bad field."""
    from sgd_tms.config import LLCConfig, preset as train_preset

    from ..errors import InputError

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
            from ..errors import InputError

            raise InputError(f"{', '.join(given)}: LLC flags, not used with --no-llc; drop them or the --no-llc")
    return sgd_configs(args.preset, train_flags().given(args), None if args.no_llc else llc_flags().given(args))


def run(args: argparse.Namespace) -> int:
    """Run the ``sgd`` subcommand; returns the exit status (1 when every run diverged)."""
    from ..errors import InputError
    from ..sweep import sweep_kwargs

    tc, lc = _configs(args)
    if args.block_runs is not None and args.block_runs < 1:
        raise InputError(f"--block-runs: expected an integer >= 1, got {args.block_runs}")
    kw = sweep_kwargs(args)
    progress = kw.pop("progress")
    from ..jobs.sgd import run_ensemble

    return run_ensemble(tc, lc, args.out, progress=progress, force=args.force, block_runs=args.block_runs,
                        plot_runs=args.plot_runs, sweep=kw, yes=getattr(args, "yes", False)).status
