"""The localised tempered posterior as a compiled PyMC/nutpie model, and the estimate from its draws.

``p(w) ∝ exp(-n beta L(w) - (gamma / 2) |w - w*|^2)`` is written as ``u ~ Normal(0, gamma^{-1/2})``
with ``w = w* + u`` plus the potential ``-n beta L(w)``; ``w*``, the data and ``n beta`` live in
``pm.Data`` containers so one compiled model serves every centre, data set and temperature
(:data:`MODEL_CACHE`). :func:`estimate_from_model` runs NUTS and turns the loss trace into an
:class:`~comparisons.theory.LLCEstimate`: ``lambda_hat = n beta (E[L] - L(w*))`` with
``se = n beta sd(L) / sqrt(ESS)`` (ArviZ bulk ESS of the pooled trace).
"""

from __future__ import annotations

__all__ = ["MODEL_CACHE", "STUCK_STEP_RATIO", "loss_model", "tms_model", "prepared_model", "estimate_from_model", "nuts_diagnostics"]

from typing import Callable

import numpy as np

from comparisons.theory import LLCEstimate
from comparisons.theory.streams import sequence_seed

from ..cache import ModelCache
from .basin import basin_logp, in_basin, wall_rejections


def loss_model(loss_fn: Callable, d: int):
    """Localised model of a generic loss of a parameter vector of length ``d``."""
    import pymc as pm

    with pm.Model() as model:
        center = pm.Data("center", np.zeros(d))
        nbeta = pm.Data("nbeta", np.asarray(1.0))
        scale = pm.Data("scale", np.asarray(1.0))
        u = pm.Normal("u", 0.0, scale, shape=d)
        loss = pm.Deterministic("loss", loss_fn(center + u))
        pm.Potential("loglik", -nbeta * loss)
    return model


def tms_model(kind: str, hidden: int, features: int, data: dict, restrict: bool = False):
    """Localised TMS model (fast one-hot or dense likelihood); data in ``pm.Data`` containers.

    ``restrict``: add the basin constraint (``-inf`` outside; column roles in ``data["roles"]``).
    """
    import pymc as pm

    from ..likelihood import dense_loss, onehot_loss_fused

    coords = {"hidden": np.arange(hidden), "feature": np.arange(features)}
    with pm.Model(coords=coords) as model:
        d = {k: pm.Data(k, v) for k, v in data.items()}
        dW = pm.Normal("dW", 0.0, d["scale"], dims=("hidden", "feature"))
        db = pm.Normal("db", 0.0, d["scale"], dims="feature")
        W = d["W0"] + dW
        b = d["b0"] + db
        if kind == "onehot":
            loss = onehot_loss_fused(W, b, d["oh_mu"], d["oh_prefix"], d["oh_start"], d["oh_end"],
                                     d["oh_sumsq"], d["n_obs"])
        else:
            loss = dense_loss(W, b, d["x"], d["n_obs"])
        loss = pm.Deterministic("loss", loss)
        pm.Potential("loglik", -d["nbeta"] * loss)
        if restrict:
            pm.Potential("basin", basin_logp(W, b, d["roles"]))
    return model


#: compiled localised models keyed by (kind, backend, shape...); data are swapped per call
MODEL_CACHE = ModelCache("localised LLC models")


def prepared_model(key: tuple, build: Callable, backend: str, data: dict):
    """The model for ``key`` (built once) with ``data`` set: a pymc Model or a nutpie model."""
    def compiled():
        model = build()
        if backend != "nutpie":
            return model
        import nutpie

        from ..likelihood import register_numba

        register_numba()
        # chains start exactly at w* (no jitter): a jittered dead column can start outside
        # the basin, where the restricted log density is -inf
        return nutpie.compile_pymc_model(model, default_initialization_strategy="support_point",
                                         jitter_rvs=set())

    obj = MODEL_CACHE.get(key, compiled)
    if backend == "nutpie":
        return obj.with_data(**data)
    import pymc as pm

    with obj:
        pm.set_data(data)
    return obj


#: a chain whose adapted step size is this many times below the median is a failed warm-up
STUCK_STEP_RATIO = 5.0


def estimate_from_model(prepared, backend: str, *, n: int, nbeta: float, gamma: float, loss_at_center: float,
              chains: int, draws: int, warmup: int, ss: np.random.SeedSequence, progress: bool,
              target_accept: float, cores: int, restrict: str | None = None,
              basin: tuple | None = None) -> LLCEstimate:
    import arviz as az
    import xarray as xr

    from ..sampling import run_nuts

    # nutpie: every chain starts exactly at w* (u = 0); its default start can fall outside the basin
    init = None if backend != "nutpie" else np.zeros(prepared.n_dim)
    idata = run_nuts(prepared, backend, draws=draws, warmup=warmup, chains=chains, cores=cores,
                      seed=sequence_seed(ss), target_accept=target_accept,
                      progress=progress, init_mean=init,
                      store_divergences=backend == "nutpie" and restrict is not None and basin is not None)
    loss = np.asarray(idata.posterior["loss"].transpose("chain", "draw").values, dtype=float)
    trace = xr.DataArray(loss, dims=("chain", "draw"), name="empirical_loss",
                         attrs={"n": n, "nbeta": nbeta, "gamma": gamma})
    stats = idata.sample_stats
    div = int(stats["diverging"].sum()) if "diverging" in stats else -1
    wall = wall_rejections(prepared, stats, basin) if restrict is not None and basin is not None else 0
    frac = float("nan")
    if basin is not None:  # (W0, b0, roles): fraction of draws inside the basin of w*
        W0, b0, roles = basin
        post = idata.posterior
        dW = post["dW"].transpose("chain", "draw", "hidden", "feature").values
        db = post["db"].transpose("chain", "draw", "feature").values
        frac = float(np.mean(in_basin(W0 + dW, b0 + db, roles)))
    settings = {"warmup": int(warmup), "target_accept": float(target_accept)}  # beside SGLD's step_size, warmup
    keep = np.isfinite(loss).all(axis=1)  # a NaN chain is data: drop it, keep the rest
    if "step_size" in stats and loss.shape[0] >= 3:
        step = np.asarray(stats["step_size"].transpose("chain", "draw").values, dtype=float)[:, -1]
        keep &= step >= np.median(step) / STUCK_STEP_RATIO
    failed = int((~keep).sum())
    loss = loss[keep]
    if loss.size == 0:
        return LLCEstimate(np.nan, np.nan, n, nbeta, gamma, chains, draws, loss_at_center, np.nan, "nuts",
                           trace, {**nuts_diagnostics(0.0, div, backend, restrict, frac, failed, wall),
                                   **settings})
    mean = float(loss.mean())
    sd = float(loss.std(ddof=1)) if loss.size > 1 else np.nan
    if loss.shape[1] >= 4:
        ess = float(az.ess(loss, method="bulk"))
    else:
        ess = float(loss.size)
    se = nbeta * sd / np.sqrt(ess) if ess > 0 else np.nan
    return LLCEstimate(llc=float(nbeta * (mean - loss_at_center)), se=float(se), n=n, nbeta=nbeta, gamma=gamma,
                       chains=chains, draws=draws, loss_at_center=float(loss_at_center), mean_loss=mean,
                       method="nuts", trace=trace,
                       diagnostics={**nuts_diagnostics(ess, div, backend, restrict, frac, failed, wall),
                                    **settings})


def nuts_diagnostics(ess: float, divergences: int, backend: str, restrict: str | None, basin_fraction: float,
                      failed_chains: int, wall_rejections: int) -> dict:
    """The NUTS part of an :class:`~comparisons.theory.LLCEstimate`.

    ``ess``: bulk effective sample size of the pooled ``L_n`` trace; ``divergences``: divergent
    transitions of the kept draws; ``backend``: ``"pymc"`` or ``"nutpie"``; ``restrict``:
    ``"basin"`` when the target was restricted to the basin of ``w*``, else None;
    ``basin_fraction``: share of the kept draws inside that basin (:func:`in_basin`; NaN for a
    generic loss); ``failed_chains``: chains left out because their warm-up failed (a non-finite
    loss, or a final step size below ``1/STUCK_STEP_RATIO`` of the median: failures are data,
    counted, never averaged in); ``wall_rejections``: of the divergences, those that ended
    outside the basin (the restricted target's wall; -1 where not known, i.e. PyMC).
    :func:`estimate_from_model` adds the settings that shaped the draws beyond the estimate's own fields:
    ``warmup`` and ``target_accept``.
    """
    return {"ess": float(ess), "divergences": int(divergences), "backend": backend, "restrict": restrict,
            "basin_fraction": float(basin_fraction), "failed_chains": int(failed_chains),
            "wall_rejections": int(wall_rejections)}
