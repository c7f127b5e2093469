"""``tms-phases free-energy``: the Bayes free energy measured by SMC against the asymptotic formula.

This module parses the flags into an :class:`~comparisons.jobs.configs.SMCConfig`; the job itself
is :func:`comparisons.jobs.free_energy.free_energy_job`.
"""

from __future__ import annotations

__all__ = ["HELP", "add_arguments", "run", "smc_config", "smc_flags"]

import argparse
import dataclasses
from dataclasses import dataclass, field

from ..errors import InputError
from .flags import FlagTable

HELP = "Bayes free energy -log Z_n by SMC and local free energies per phase vs the asymptotic formula"


@dataclass(frozen=True)
class FreeEnergyCommand:
    """The options of ``tms-phases free-energy`` beside its :class:`~comparisons.jobs.configs.SMCConfig`."""

    bayes_dir: str | None = field(default=None, metadata={
        "help": "folder of a `tms-phases bayes` run whose occupancy.nc gives the phase masses (NUTS + ladder "
                "bridge); its config must match --features/--seed", "metavar": "DIR", "default_text": "none"})
    out: str | None = field(default=None, metadata={"help": "output folder", "metavar": "DIR", "required": True})
    no_progress: bool = field(default=False, metadata={"help": "hide the progress bar"})


def smc_flags() -> FlagTable:
    """The flags of :class:`~comparisons.jobs.configs.SMCConfig` (``bootstrap`` left out: SMC's
    intervals are over its independent runs)."""
    from ..jobs.configs import SMCConfig

    names = [f.name for f in dataclasses.fields(SMCConfig) if "help" in f.metadata and f.name != "bootstrap"]
    return FlagTable(SMCConfig, fields=names, hide_default=("ns",))


def smc_config(**fields):
    """The :class:`~comparisons.jobs.configs.SMCConfig` of the ``fields`` given (None: not given)."""
    from ..jobs.configs import SMCConfig

    from ..jobs.configs import check_features

    fields = {k: v for k, v in fields.items() if v is not None}
    if "features" in fields:  # a bad c is named before a missing ladder
        check_features(fields["features"], name="--features")
    if "ns" not in fields:
        raise InputError("--n: expected a comma-separated ladder of sample sizes, got none")
    return smc_flags().build(SMCConfig, **fields)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tms-phases free-energy``."""
    parser.description = (
        "Measure the Bayes free energy -log Z_n = -log E_prior[exp(-n β L_n)] of the TMS posterior "
        "(prior N(0,σ²)) at each n of a ladder with PyMC's sequential Monte Carlo (pm.sample_smc, "
        "fixed-length random-walk MH mutations), classify the final SMC particles into phases "
        "(a global occupancy estimate), and compare with Watanabe's asymptotic "
        "F_n(α) = n L(w*) + λ log n + |w*|²/2σ² up to one constant fitted at the smallest n. "
        "Local free energies F_n(α) = -log Z_n - log mass_n(α) use the SMC particle fractions and, "
        "with --bayes-dir, the ladder-bridge log masses (occupancy.nc) of a `tms-phases bayes` run (same "
        "--features and --seed: data set n is the first n samples of one seeded stream). Writes "
        "free_energy.csv, free_energy_phases.csv, smc_occupancy.nc (the occupancy hand-off, intervals over "
        "the independent runs) with its export smc_occupancy.csv, crossings_measured.json, free_energy.png and timing.json into --out, and with "
        "--bayes-dir occupancy_compare.csv (n, phase, estimator, fraction, lower, upper: smc beside "
        "nuts_bridge).")
    smc_flags().add_to(parser)
    FlagTable(FreeEnergyCommand, defaults=True).add_to(parser)
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser, executor="inline", executor_help=(  # SMC is CPU-bound
        "inline: one n at a time in this process; --workers N > 1: N at once in a process pool; Dask "
        "with --scheduler/--dask-local"))


def run(args: argparse.Namespace) -> int:
    """Run the SMC ladder, compare, write the files; return the exit status."""
    from ..sweep import pool_when_asked, sweep_kwargs

    config = smc_config(**smc_flags().given(args))
    pool_when_asked(args)  # --workers 2 runs two n at a time (it was ignored: one n at a time)
    from ..jobs.free_energy import free_energy_job

    return free_energy_job(config, args.out, bayes_dir=args.bayes_dir, sweep=sweep_kwargs(args),
                           yes=getattr(args, "yes", False)).status
