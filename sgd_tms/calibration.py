"""Calibration of the SGLD estimate of the local learning coefficient.

The estimator is the one of :mod:`sgd_tms.llc` (Lau et al. 2023, arXiv 2308.12108;
``docs/study.md`` section 4):
``lambda_hat(w*) = n beta (E[L_n(w)] - L_n(w*))`` over the localised tempered posterior
``pi(w) ∝ exp(-n beta L_n(w) - (gamma/2)|w - w*|^2)``. SGLD samples ``pi`` only approximately
(the Euler discretisation is never corrected); an exact sampler of the same ``pi`` (NUTS,
:func:`bayes_tms.nuts_llc`) gives the value SGLD should reproduce. This module

- estimates the LLC at one point ``w*`` with diagnostics (:func:`sgld_point_llc`): the fraction
  of draws below the start (loss-trace health), the MALA acceptance probability of every SGLD
  proposal under ``pi`` (computed from the exact full-batch loss and gradient: ~1 means the
  discretisation bias is negligible), and the distance travelled from ``w*``;
- sweeps step size x gamma against a reference (:func:`calibration_sweep`);
- gives the recommended default (:func:`recommended_config`, :data:`STEP_NBETA`).

Models with a closed-form answer for its tests live in ``tests/sgd_known_models.py`` (PyMC's
``tests/models.py`` pattern).

Step sizes are best quoted as ``epsilon n beta``: the stiffest direction of ``pi`` has curvature
``n beta h_max``, so the discretisation error depends on ``epsilon`` only through that product.
"""

from __future__ import annotations

__all__ = [
    "STEP_NBETA", "recommended_config", "sgld_point_llc", "calibration_sweep",
]

import dataclasses
import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from comparisons.errors import InputError, check_positive_int
from comparisons.theory import LLCEstimate, LLCSettings, child_sequence

from .config import LLCConfig
from .llc import sgld_llc
from .model import onehot_tensors, resolve_dtype
from .train import threads

#: recommended ``epsilon n beta`` (step size times n beta); see :func:`recommended_config`
STEP_NBETA = 0.1


def recommended_config(n: int, *, gamma: float = 1.0, chains: int = 32, draws: int = 8000,
                       warmup: int = 2000, seed: int = 0, beta: float | None = None) -> LLCConfig:
    """The calibrated SGLD settings for the TMS LLC at sample size ``n``.

    Parameters
    ----------
    n : int
        Sample size (``n >= 2``).
    gamma : float
        Localisation strength.
    chains, draws, warmup, seed : int
        Passed to :class:`LLCConfig`.
    beta : float, optional
        Inverse temperature (default ``beta* = 1/log n``).

    Returns
    -------
    LLCConfig
        ``step_size = STEP_NBETA / (n beta)``, float64.

    Notes
    -----
    The step is chosen so that the mean MALA acceptance of the SGLD proposal stays above ~0.99 at
    the k-gons of c = 6 (measured by :func:`calibration_sweep`); a smaller step only slows mixing.
    """
    n = check_positive_int("n", n, minimum=2)
    nbeta = LLCSettings(beta=beta).nbeta(n)
    return LLCConfig(step_size=STEP_NBETA / nbeta, gamma=gamma, beta=beta, chains=chains, draws=draws,
                     warmup=warmup, seed=seed, dtype="float64")


def _generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    seed = check_positive_int("seed", seed, minimum=0)
    state = child_sequence(seed, "sgd", "sgld", "torch").generate_state(1, np.uint64)[0] >> np.uint64(1)
    return torch.Generator(device=device).manual_seed(int(state))


def _nanstat(fn, a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    return float(fn(a)) if np.isfinite(a).any() else math.nan


def _summarise(res: xr.Dataset, n: int, nbeta: float, config: LLCConfig, wall: float) -> LLCEstimate:
    """The point estimate of the chains of :func:`sgld_llc` (one point, ``diagnostics=True``)."""
    one = res.isel(point=0)
    llc = one["llc"].values
    valid = ~one["escaped"].values & ~one["nonfinite"].values
    k = int(valid.sum())
    mean = float(llc[valid].mean()) if k else math.nan
    se = float(llc[valid].std(ddof=1) / math.sqrt(k)) if k > 1 else math.nan
    losses = one["loss_trace"].values
    kept = losses[:, config.warmup:]
    trace = xr.DataArray(losses, dims=("chain", "draw"),
                         coords={"chain": np.arange(llc.size), "draw": np.arange(config.draws)},
                         name="loss", attrs={"long_name": "L_n along each SGLD chain"})
    diagnostics = {
        "step_size": config.step_size, "warmup": config.warmup,
        "below_fraction": float(one["below_fraction"].values.mean()),
        "accept": _nanstat(np.nanmean, one["accept"].values),
        "distance": _nanstat(np.nanmean, one["distance"].values),
        "max_distance": _nanstat(np.nanmax, one["max_distance"].values),
        "escaped": int(one["escaped"].values.sum()), "nonfinite": int(one["nonfinite"].values.sum()),
        "wall_s": wall}
    return LLCEstimate(
        llc=mean, se=se, n=int(n), nbeta=float(nbeta), gamma=config.gamma, chains=config.chains,
        draws=config.draws, loss_at_center=float(one["init_loss"].values[0]),
        mean_loss=float(kept[valid].mean()) if k else math.nan, method="sgld", trace=trace,
        diagnostics=diagnostics)


def sgld_point_llc(W0, b0, x=None, config: LLCConfig | None = None, *, seed: int | None = None,
                   loss_and_grad: Callable | None = None, n: int | None = None,
                   progress: bool = False) -> LLCEstimate:
    """SGLD estimate of the LLC at one point ``w* = (W0, b0)``, ``config.chains`` chains.

    Parameters
    ----------
    W0 : array_like, shape (r, c)
    b0 : array_like, shape (c,)
        The centre ``w*`` (an enumerated phase, a posterior draw, an SGD checkpoint).
    x : array_like, shape (n, c), optional
        One-hot data (the exact full-batch ``L_n`` is used). Omit it when ``loss_and_grad`` is
        given.
    config : LLCConfig, optional
        Default :func:`recommended_config` of ``n``.
    seed : int, optional
        Root of the Langevin noise (default ``config.seed``).
    loss_and_grad : callable, optional
        ``(W, b) -> (loss, (gW, gb))`` on tensors with leading dims ``(1, chains)``, replacing
        the TMS loss (tests use a model with a known answer); needs ``n``.
    n : int, optional
        Sample size in ``n beta`` (default: ``len(x)``).
    progress : bool
        tqdm bar over SGLD steps.

    Returns
    -------
    comparisons.theory.LLCEstimate
        ``method="sgld"``: ``llc`` and ``se`` are the mean over valid chains (neither escaped nor
        non-finite) of the per-chain estimates and its standard error (their spread over the
        square root of their number). ``diagnostics``: ``step_size``, ``warmup``,
        ``below_fraction`` (mean share of kept draws with ``L_n < L_n(w*)``; healthy: small, near
        1/2 or above: the chain found lower loss), ``accept`` (mean MALA acceptance of the SGLD
        proposals under the localised target), ``distance``/``max_distance`` (mean and largest
        ``|w - w*|``), ``escaped``/``nonfinite`` (flagged chains) and ``wall_s``.

    Examples
    --------
    >>> from comparisons.theory import enumerate_phases, sample_inputs
    >>> p = enumerate_phases(6)[0]
    >>> est = sgld_point_llc(p.W, p.b, sample_inputs(1000, 6, 0),
    ...                      recommended_config(1000, chains=2, draws=200, warmup=100))
    >>> est.llc > 0 and 0 < est.accept <= 1
    True
    """
    if x is None and loss_and_grad is None:
        raise InputError("x: expected one-hot data of shape (n, c), got None")
    if x is not None:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2:
            raise InputError(f"x: expected shape (n, c), got {x.shape}")
        n = x.shape[0] if n is None else n
    if n is None:
        raise InputError("n: expected the sample size with loss_and_grad, got None")
    n = check_positive_int("n", n, minimum=2)
    config = config or recommended_config(n)
    if not isinstance(config, LLCConfig):
        raise InputError(f"config: expected an LLCConfig, got {type(config).__name__}")
    seed = config.seed if seed is None else seed
    dtype = resolve_dtype(config.dtype)
    W0 = np.asarray(W0, dtype=float)
    b0 = np.asarray(b0, dtype=float)
    if loss_and_grad is None and (W0.ndim != 2 or b0.shape != W0.shape[1:]):
        raise InputError(f"W0, b0: expected shapes (r, c) and (c,), got {W0.shape} and {b0.shape}")
    if x is not None and x.shape[1] != W0.shape[1]:
        raise InputError(f"x: expected {W0.shape[1]} features (columns of W0), got {x.shape[1]}")
    M = config.chains
    W = torch.as_tensor(W0, dtype=dtype).expand(1, M, *W0.shape).clone()
    b = torch.as_tensor(b0, dtype=dtype).expand(1, M, *b0.shape).clone()
    nbeta = config.nbeta(n)
    with threads(config.threads), torch.inference_mode():
        data = onehot_tensors(x, dtype=dtype) if loss_and_grad is None else None
        t0 = time.perf_counter()
        res = sgld_llc(W, b, data, config, _generator(seed), progress=progress,
                       loss_and_grad=loss_and_grad, n=n, diagnostics=True)
        wall = time.perf_counter() - t0
    return _summarise(res, n, nbeta, config, wall)


def calibration_sweep(W0, b0, x, step_sizes: Sequence[float], gammas: Sequence[float] = (1.0,),
                      *, reference: float | Mapping[float, float] | None = None,
                      reference_se: float | Mapping[float, float] | None = None,
                      config: LLCConfig | None = None, seed: int = 0,
                      progress: bool = False) -> xr.Dataset:
    """SGLD LLC at ``w*`` on a grid of step sizes x gammas, with its bias against a reference.

    Parameters
    ----------
    W0, b0, x
        As in :func:`sgld_point_llc`.
    step_sizes : sequence of float
        ``epsilon`` values (> 0).
    gammas : sequence of float
        Localisation strengths (>= 0). The target ``pi`` depends on gamma, so the reference does.
    reference, reference_se : float or mapping gamma -> float, optional
        The exact value (e.g. :func:`bayes_tms.nuts_llc` at the same ``w*``, data and gamma) and
        its standard error.
    config : LLCConfig, optional
        Chains, draws, warm-up, dtype (step size and gamma are overridden); default
        :func:`recommended_config`.
    seed : int
        Every grid cell uses the same noise stream (common random numbers).

    Returns
    -------
    xarray.Dataset
        Dims ``(step_size, gamma)``: ``llc``, ``se``, ``accept``, ``below_fraction``,
        ``distance``, ``max_distance``, ``escaped``, ``wall_s``, ``step_nbeta``
        (``epsilon n beta``) and, with a reference, ``reference``, ``reference_se``, ``bias``
        (``llc - reference``), ``rel_bias`` and ``z`` (bias over the combined standard error).
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    base = config or recommended_config(n)
    steps = [float(s) for s in step_sizes]
    gams = [float(g) for g in gammas]
    if not steps or not gams:
        raise InputError("step_sizes, gammas: expected non-empty sequences, got an empty one")

    def per_gamma(value, name):
        if value is None:
            return np.full(len(gams), np.nan)
        if isinstance(value, Mapping):
            try:
                return np.array([float(value[g]) for g in gams])
            except KeyError as exc:
                raise InputError(f"{name}: expected a value for every gamma, got none for {exc}") from None
        return np.full(len(gams), float(value))

    fields = ("llc", "se", "accept", "below_fraction", "distance", "max_distance", "escaped", "wall_s")
    out = {f: np.full((len(steps), len(gams)), np.nan) for f in fields}
    for i, s in enumerate(steps):
        for j, g in enumerate(gams):
            cfg = dataclasses.replace(base, step_size=s, gamma=g)
            est = sgld_point_llc(W0, b0, x, cfg, seed=seed, progress=progress)
            for f in fields:
                out[f][i, j] = getattr(est, f)
    nbeta = base.nbeta(n)
    dims = ("step_size", "gamma")
    ds = xr.Dataset({f: (dims, v) for f, v in out.items()},
                    coords={"step_size": steps, "gamma": gams})
    ds["step_nbeta"] = ("step_size", np.array(steps) * nbeta)
    if reference is not None:
        ref = per_gamma(reference, "reference")
        rse = per_gamma(reference_se, "reference_se")
        ds["reference"] = ("gamma", ref)
        ds["reference_se"] = ("gamma", rse)
        ds["bias"] = ds["llc"] - ds["reference"]
        ds["rel_bias"] = ds["bias"] / ds["reference"]
        ds["z"] = ds["bias"] / np.sqrt(ds["se"] ** 2 + np.nan_to_num(ds["reference_se"]) ** 2)
    ds.attrs.update({"n": n, "nbeta": nbeta, "chains": base.chains, "draws": base.draws,
                     "warmup": base.warmup, "seed": seed, "dtype": base.dtype})
    return ds
