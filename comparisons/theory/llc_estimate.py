"""The one result type of an LLC estimate at a point, shared by both engines.

NUTS (:func:`bayes_tms.nuts_llc`, :func:`bayes_tms.loss_llc`, the population estimates of
:mod:`bayes_tms.population_llc`) and SGLD (:func:`sgd_tms.calibration.sgld_point_llc`) estimate
the same quantity, ``lambda_hat = n beta (E[L_n] - L_n(w*))`` over a localised tempered
posterior, and return the same :class:`LLCEstimate`. What only one sampler knows (NUTS: ESS,
divergences, basin fraction; SGLD: MALA acceptance, escaped chains, distance travelled) is in
``diagnostics``. :meth:`LLCEstimate.to_dataset` gives the ``llc`` hand-off of
:mod:`comparisons.contracts`.

This module imports neither torch nor PyMC (the ``trace`` it holds is built by the engines).
"""

from __future__ import annotations

__all__ = ["LLCEstimate", "LLC_METHODS"]

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

#: samplers that produce an :class:`LLCEstimate`
LLC_METHODS = ("nuts", "sgld")


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
        basin_fraction, failed_chains, wall_rejections``; SGLD: ``step_size, burn_in,
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
            from ..errors import InputError

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
