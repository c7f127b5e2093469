"""The one result type of an LLC estimate at a point, shared by both engines.

NUTS (:func:`bayes_tms.nuts_llc`, :func:`bayes_tms.loss_llc`, the population estimates of
:mod:`bayes_tms.llc`) and SGLD (:func:`sgd_tms.calibration.sgld_point_llc`) estimate
the same quantity, ``lambda_hat = n beta (E[L_n] - L_n(w*))`` over a localised tempered
posterior, and return the same :class:`LLCEstimate`. What only one sampler knows (NUTS: ESS,
divergences, basin fraction; SGLD: MALA acceptance, escaped chains, distance travelled) is in
``diagnostics``. :meth:`LLCEstimate.to_dataset` gives the ``llc`` hand-off of
:mod:`comparisons.contracts`.

The settings both samplers share (``gamma``, ``beta``, ``chains``, ``draws``, ``seed``) are
declared once, in :class:`LLCSettings`: one default, one help text, one validator each, and the
one resolution of ``n beta`` (:meth:`LLCSettings.nbeta`). The engines' configurations
(:class:`sgd_tms.LLCConfig`, :class:`bayes_tms.llc.NUTSLLCConfig`) inherit from it.

This module imports neither torch nor PyMC (the ``trace`` it holds is built by the engines).
"""

from __future__ import annotations

__all__ = ["LLCEstimate", "LLC_METHODS", "LLCSettings", "settings_field"]

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import (
    InputError,
    check_field_types,
    check_positive_float,
    check_positive_int,
)
from .free_energy import llc_beta

#: samplers that produce an :class:`LLCEstimate`
LLC_METHODS = ("nuts", "sgld")


@dataclass(frozen=True)
class LLCSettings:
    """What every LLC estimate needs, whatever the sampler: the target and the sample size.

    The localised tempered posterior ``exp(-n beta L_n(w) - gamma |w - w*|^2 / 2)`` and how many
    draws are taken from it. Each field has its one default, help text (``metadata``, read by
    :class:`comparisons.cli.flags.FlagTable`) and check (:meth:`__post_init__`). The engines'
    configurations inherit these fields and add their own (:class:`sgd_tms.LLCConfig`: step
    size, warm-up, ...; :class:`bayes_tms.llc.NUTSLLCConfig`: warm-up, target acceptance,
    back-end). Inheritance rather than composition keeps the SGLD configuration flat, so that its
    stored JSON, and the hash that lets a finished ``trajectory.nc`` be reused, are what they were.

    Attributes
    ----------
    gamma : float
        Localisation strength, > 0 (the localisation is part of the estimator's target; NUTS
        samples it as a Gaussian of scale ``1 / sqrt(gamma)``).
    beta : float or None
        Inverse temperature; None means ``beta* = 1 / log n`` (:func:`comparisons.theory.llc_beta`).
    chains : int
        Chains, each started at ``w*``.
    draws : int
        Draws per chain (SGLD: steps including the warm-up; NUTS: kept draws after the warm-up). The
        default is the sampler's (:func:`settings_field`): 500 SGLD steps (the paper's), 1000
        NUTS draws.
    seed : int
        Root seed of the sampler's randomness. It has no help text, hence no flag: the commands
        derive it from their own root seed (``tms-phases sgd --seed``, ``tms-phases llc --seed``).
    """

    gamma: float = field(default=1.0, metadata={"help": "localisation strength gamma"})
    beta: float | None = field(default=None, metadata={
        "help": "inverse temperature of the localised posterior", "default_text": "1/log n"})
    chains: int = field(default=4, metadata={"help": "chains, each started at w*"})
    draws: int = field(default=500, metadata={"help": "draws per chain (SGLD: steps)"})
    seed: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)  # every field of a subclass too (LLCConfig, NUTSLLCConfig)
        # checked, not converted: a config keeps what it was given, so that its JSON (and the hash
        # of a stored SGD trajectory) stays the same
        check_positive_float("gamma", self.gamma)
        if self.beta is not None:
            check_positive_float("beta", self.beta)
        check_positive_int("chains", self.chains)
        check_positive_int("draws", self.draws)
        check_positive_int("seed", self.seed, minimum=0)

    def beta_for(self, n: int) -> float:
        """``beta`` or, when unset, ``1 / log n``."""
        return self.beta if self.beta is not None else llc_beta(n)

    def nbeta(self, n: int) -> float:
        """``n beta``: the one place where the temperature of an estimate at sample size ``n`` is
        resolved."""
        return float(n * self.beta_for(n))

    def to_attrs(self, n: int) -> dict:
        """What an output records of these settings at sample size ``n``: every field (None as
        ``""``), with ``beta`` and ``nbeta`` resolved."""
        out = {f.name: ("" if getattr(self, f.name) is None else getattr(self, f.name))
               for f in dataclasses.fields(self)}
        return {**out, "n": int(n), "beta": float(self.beta_for(n)), "nbeta": self.nbeta(n)}


def settings_field(name: str, **metadata_updates: Any):
    """The field ``name`` of :class:`LLCSettings` for a subclass, with another default.

    ``default=`` sets the default (the sampler's own); any other keyword updates the metadata.
    Help text and check stay the shared ones.
    """
    base = next(f for f in dataclasses.fields(LLCSettings) if f.name == name)
    default = metadata_updates.pop("default", base.default)
    return field(default=default, metadata={**base.metadata, **metadata_updates})


@dataclass(frozen=True, eq=False)
class LLCEstimate:
    """One estimate of the local learning coefficient at a point ``w*``.

    Attributes
    ----------
    llc : float
        ``lambda_hat = nbeta (mean_loss - loss_at_center)`` (NaN when no chain is valid).
    se : float
        Its Monte Carlo standard error (NUTS: ``nbeta sd(L_n) / sqrt(ess)``; SGLD: spread of the
        valid chains' estimates over the square root of their number).
    n : int
        Sample size the temperature refers to.
    nbeta : float
        ``n beta`` used.
    gamma : float
        Localisation strength.
    chains, draws : int
        Chains run and draws per chain.
    loss_at_center : float
        ``L_n(w*)``.
    mean_loss : float
        ``E[L_n]`` over the kept draws of the valid chains.
    method : {"nuts", "sgld"}
        The sampler.
    trace : xarray.DataArray
        ``L_n`` at every draw, dims ``(chain, draw)``.
    diagnostics : mapping
        What only this sampler reports. NUTS: ``ess, divergences, backend, restrict,
        basin_fraction, failed_chains, wall_rejections, warmup, target_accept``; SGLD: ``step_size, warmup,
        below_fraction, accept, distance, max_distance, escaped, nonfinite, wall_s`` (see
        :func:`bayes_tms.nuts_llc` and :func:`sgd_tms.calibration.sgld_point_llc`). Each is
        also readable as an attribute (``est.ess``, ``est.accept``).
    """

    llc: float
    se: float
    n: int
    nbeta: float
    gamma: float
    chains: int
    draws: int
    loss_at_center: float
    mean_loss: float
    method: str
    trace: Any = field(repr=False)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in LLC_METHODS:
            raise InputError(f"method: expected one of {LLC_METHODS}, got {self.method!r}")

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: the sampler's own diagnostics by name
        diagnostics = self.__dict__.get("diagnostics", {})
        if not name.startswith("__") and name in diagnostics:
            return diagnostics[name]
        raise AttributeError(f"{type(self).__name__} ({self.__dict__.get('method', '?')}) has no attribute {name!r}")

    @property
    def beta(self) -> float:
        """The inverse temperature ``nbeta / n``."""
        return self.nbeta / self.n if self.n else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready scalars: every field but the trace, the diagnostics flattened in."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("trace", "diagnostics")}
        return {**out, **dict(self.diagnostics)}

    def to_dataset(self):
        """The ``llc`` hand-off (:data:`comparisons.contracts.LLC`): an ``xarray.Dataset``.

        ``estimate`` and ``se`` as scalars; ``n``, ``beta``, ``nbeta``, ``gamma``, ``method``,
        ``chains``, ``draws`` and the text diagnostics as attrs; every numeric diagnostic,
        ``loss_at_center`` and ``mean_loss`` as scalar variables.
        """
        import xarray as xr

        numeric = {k: v for k, v in self.diagnostics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        text = {k: ("" if v is None else str(v)) for k, v in self.diagnostics.items() if k not in numeric}
        data = {"estimate": self.llc, "se": self.se, "loss_at_center": self.loss_at_center,
                "mean_loss": self.mean_loss, **numeric}
        attrs = {"method": self.method, "n": int(self.n), "beta": float(self.beta), "nbeta": float(self.nbeta),
                 "gamma": float(self.gamma), "chains": int(self.chains), "draws": int(self.draws), **text}
        return xr.Dataset({k: ((), v) for k, v in data.items()}, attrs=attrs)
