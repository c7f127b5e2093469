"""Rough up-front cost estimates of the expensive subcommands, and the ``--yes`` gate.

A run whose estimate exceeds :data:`CONFIRM_ABOVE_S` (one hour) starts only with ``--yes``; every
run prints its estimate first. The model is deliberately simple (a per-step constant times the
number of steps) and calibrated on a 2-core CPU: it is meant to tell minutes from hours, not to
predict to the second.

=============================  ==============================================================
bayes                          ``len(ns) * chains * (draws + tune) * NUTS_STEP_S[backend] /
                               min(cores, chains)``
sgd training                   ``epochs * steps_per_epoch * (SGD_STEP_S + runs * SGD_RUN_STEP_S)``
sgd LLC                        ``runs * checkpoints * chains * draws * SGLD_DRAW_S``
free-energy (SMC)              ``len(ns) * runs * SMC_STAGES * mutation_steps * particles *
                               SMC_PARTICLE_STEP_S``
llc (per phase x n x method)   NUTS: ``chains * (draws + warmup) * LLC_NUTS_STEP_S``;
                               SGLD: ``chains * draws * SGLD_DRAW_S``
=============================  ==============================================================
"""

from __future__ import annotations

__all__ = ["CONFIRM_ABOVE_S", "bayes_seconds", "sgd_seconds", "llc_seconds", "smc_seconds", "format_duration",
           "confirm"]

import sys
from typing import Any, Iterable, TextIO

from .errors import InputError

#: runs estimated above this many seconds need ``--yes``
CONFIRM_ABOVE_S = 3600.0
#: seconds per NUTS step of one chain on one core (draw or tuning step), by back-end
NUTS_STEP_S = {"nutpie": 2e-3, "pymc": 2e-2}
#: seconds per optimiser step of a batched SGD ensemble, fixed part and per run
SGD_STEP_S = 5e-4
SGD_RUN_STEP_S = 1e-5
#: seconds per SGLD draw of one chain at one checkpoint
SGLD_DRAW_S = 3e-5
#: seconds per NUTS step of one chain of the localised LLC sampler
LLC_NUTS_STEP_S = 5e-3
#: defaults of :func:`comparisons.jobs.llc_accuracy.llc_estimate` (chains, draws, warmup) by method
LLC_DEFAULTS = {"nuts": (4, 1000, 1000), "sgld": (32, 8000, 0)}


def bayes_seconds(config: Any) -> float:
    """Estimated seconds of a NUTS ladder (a :class:`bayes_tms.BayesConfig`)."""
    step = NUTS_STEP_S.get(config.backend, NUTS_STEP_S["pymc"])
    chain_steps = len(config.ns) * config.chains * (config.draws + config.tune)
    return chain_steps * step / max(1, min(config.cores, config.chains))


def sgd_seconds(train_config: Any, llc_config: Any | None = None) -> float:
    """Estimated seconds of an SGD ensemble (:class:`sgd_tms.config.TrainConfig`) and its LLC."""
    tc = train_config
    steps = tc.epochs * tc.steps_per_epoch
    seconds = steps * (SGD_STEP_S + tc.runs * SGD_RUN_STEP_S)
    if llc_config is not None:
        seconds += tc.runs * len(tc.checkpoint_epochs()) * llc_config.chains * llc_config.draws * SGLD_DRAW_S
    return seconds


def llc_seconds(tasks: Iterable[Any]) -> float:
    """Estimated seconds of the LLC tasks of :func:`comparisons.jobs.llc_accuracy.llc_tasks`."""
    total = 0.0
    for task in tasks:
        cfg = getattr(task, "config", task)
        method = cfg.get("method", "sgld")
        chains, draws, warmup = LLC_DEFAULTS.get(method, LLC_DEFAULTS["sgld"])
        chains = cfg.get("chains") or chains
        draws = cfg.get("draws") or draws
        warmup = cfg.get("warmup") if cfg.get("warmup") is not None else warmup
        if method == "nuts":
            total += chains * (draws + warmup) * LLC_NUTS_STEP_S
        else:
            total += chains * draws * SGLD_DRAW_S
    return total


#: seconds per MH mutation step of one SMC particle, and the usual number of tempering stages
SMC_PARTICLE_STEP_S = 2e-5
SMC_STAGES = 15


def smc_seconds(ns: int, particles: int, runs: int, mutation_steps: int) -> float:
    """Estimated seconds of the SMC free-energy ladder: ``ns`` sample sizes x ``runs`` runs, each
    ``SMC_STAGES`` tempering stages of ``mutation_steps`` MH steps of every particle."""
    return ns * runs * SMC_STAGES * mutation_steps * particles * SMC_PARTICLE_STEP_S


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.4 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def confirm(seconds: float, what: str, yes: bool, file: TextIO | None = None) -> None:
    """Print the estimate; raise InputError if it exceeds one hour and ``yes`` is False.

    Parameters
    ----------
    seconds : float
        Estimated cost.
    what : str
        What is estimated, e.g. ``"8 n x 4 chains x 3000 steps (nutpie)"``.
    yes : bool
        The user's ``--yes``.
    """
    file = sys.stderr if file is None else file
    text = format_duration(seconds)
    print(f"estimated cost: about {text} for {what} (rough; cached results are not subtracted)", file=file)
    if seconds > CONFIRM_ABOVE_S and not yes:
        raise InputError(f"--yes: expected for a run estimated at about {text} (over 1 h: {what}); "
                         f"add --yes to start it, or make it smaller")
