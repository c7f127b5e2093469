"""Local learning coefficient along SGD trajectories by localised SGLD, batched.

Estimator (Lau et al. 2023, arXiv 2308.12108; ``docs/study.md`` section 4):
``lambda_hat(w*) = n beta (E[L_n(w)] - L_n(w*))``, the expectation over SGLD draws from the
localised tempered posterior ``exp(-n beta L_n(w) - (gamma/2)|w - w*|^2)``, ``beta = 1/log n``
by default. Every checkpoint of every run gets ``chains`` chains; all of them (runs x checkpoints
x chains) advance together in one tensor program, with the exact full-batch one-hot loss
(:func:`sgd_tms.model.onehot_loss_and_grad`, ``O(c^2 log n)`` per chain and step).

Failures are data: a chain whose loss goes NaN/inf is *non-finite*; a chain with more than
``escape_fraction`` of its kept draws below ``L_n(w*)`` has *escaped* to a lower-loss region.
Both are flagged per chain, counted per checkpoint and left out of the average.
"""

from __future__ import annotations

__all__ = ["sgld_llc", "estimate_llc"]

import json

import numpy as np
import torch
import xarray as xr

from comparisons.contracts import validate_trajectory
from comparisons.errors import InputError
from comparisons.theory import child_seed

from .config import LLCConfig, config_hash
from .kernels import KeyedNoise, run_steps, sgld
from .model import OneHotTensors, onehot_loss_and_grad, onehot_tensors, resolve_device, resolve_dtype
from .train import _bar, threads, train_config_of


def sgld_llc(W: torch.Tensor, b: torch.Tensor, data: OneHotTensors, config: LLCConfig,
             rng: torch.Generator | KeyedNoise | None, progress: bool = False, noise: float = 1.0,
             loss_and_grad=None, n: int | None = None, diagnostics: bool = False) -> xr.Dataset:
    """Run localised SGLD from every ``(W, b)`` at once and estimate the LLC of each chain.

    Parameters
    ----------
    W : Tensor, shape (D, M, r, c)
        Chain starting points ``w*`` (repeat a point to give it several chains).
    b : Tensor, shape (D, M, c)
    data : OneHotTensors
        ``D`` data sets (or 1, shared).
    config : LLCConfig
    rng : torch.Generator or KeyedNoise
        Source of the Langevin noise (a :class:`~sgd_tms.kernels.KeyedNoise` with keys of shape
        ``(D, M)`` makes each chain's noise independent of what else is batched).
    noise : float
        Noise scale (1: SGLD; 0: deterministic descent, for tests).
    loss_and_grad : callable, optional
        ``(W, b) -> (loss, (gW, gb))`` replacing the one-hot empirical loss (tests use a known
        model here).
    n : int, optional
        Sample size in ``n beta`` (default ``data.n``; ``data`` may then be None).
    diagnostics : bool
        Also record the MALA acceptance of every SGLD proposal and the distance from ``w*``
        (fields ``accept``, ``distance``, ``max_distance``); same noise, same trajectory.

    Returns
    -------
    xarray.Dataset
        The chains, dims ``point`` (``D``), ``chain`` (``M``) and ``draw``: ``llc (point,
        chain)``, ``n beta (mean of kept L_n draws - L_n(w*))`` (NaN where non-finite);
        ``init_loss (point, chain)``, ``L_n(w*)``; ``loss_trace (point, chain, draw)``, ``L_n`` at
        every draw (draw 0 is ``w*`` itself); the flags ``escaped``, ``nonfinite (point, chain)``;
        ``below_fraction (point, chain)``, the share of kept draws with ``L_n < L_n(w*)``. With
        ``diagnostics=True`` also ``accept (point, chain)`` (mean over kept steps of the MALA
        acceptance probability of each SGLD proposal under the localised tempered target; ~1
        when the step is small enough for the discretisation bias to be negligible),
        ``distance`` (mean over kept draws of ``|w - w*|``) and ``max_distance`` (largest
        ``|w - w*|`` over all draws). Attrs ``method="sgld"``, ``n`` and ``nbeta``.
    """
    n = data.n if n is None else n
    nbeta = config.nbeta(n)
    lg = loss_and_grad or (lambda Wp, bp: onehot_loss_and_grad(Wp, bp, data))
    kernel = sgld(lambda pos, batch: lg(*pos), config.step_size, nbeta, config.gamma, noise,
                  diagnostics=diagnostics)
    state = kernel.init((W, b))
    bar = _bar(config.draws, "llc", progress)
    steps = (bar.update(1) for _ in range(config.draws))
    _, rec = run_steps(kernel, state, rng, steps, record="info" if diagnostics else True)
    bar.close()

    def last(t: torch.Tensor) -> np.ndarray:  # (draws, D, M) -> (D, M, draws)
        return torch.movedim(t, 0, -1).cpu().numpy().astype(np.float64)

    losses = last(rec.loss if diagnostics else rec)
    init = losses[..., 0]
    kept = losses[..., config.warmup:]
    nonfinite = ~np.all(np.isfinite(kept), axis=-1)
    with np.errstate(invalid="ignore"):
        below = np.mean(kept < init[..., None], axis=-1)
        llc = nbeta * (np.mean(kept, axis=-1) - init)
    escaped = ~nonfinite & (below > config.escape_fraction)
    llc = np.where(nonfinite, np.nan, llc)
    pc = ("point", "chain")
    out = xr.Dataset({"llc": (pc, llc), "init_loss": (pc, init), "loss_trace": (pc + ("draw",), losses),
                      "escaped": (pc, escaped), "nonfinite": (pc, nonfinite), "below_fraction": (pc, below)},
                     attrs={"method": "sgld", "n": int(n), "nbeta": float(nbeta)})
    if diagnostics:
        dist = last(rec.distance)
        out["accept"] = (pc, last(rec.accept)[..., config.warmup:].mean(-1))
        out["distance"] = (pc, dist[..., config.warmup:].mean(-1))
        out["max_distance"] = (pc, dist.max(-1))
    return out


def estimate_llc(ds: xr.Dataset, config: LLCConfig | None = None, progress: bool = False,
                 device: str | None = None, dtype: str | None = None) -> xr.Dataset:
    """LLC at every checkpoint of a trajectory Dataset: a pure function of the Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`sgd_tms.train.train` (needs ``W``, ``b``, ``x`` and ``train_config``).
    config : LLCConfig, optional
        Defaults to the paper's settings.
    progress : bool
        tqdm bars over SGLD steps.
    device : str, optional
        Override the training device.
    dtype : str, optional
        Override ``config.dtype``.

    Returns
    -------
    xarray.Dataset
        A copy of ``ds`` with ``llc (run, step)`` (mean over valid chains; NaN where none),
        ``llc_std (run, step)`` (standard error over valid chains), ``llc_chain (run, step,
        chain)``, ``llc_escaped``/``llc_nonfinite (run, step, chain)`` flags, their counts
        ``llc_n_escaped``/``llc_n_nonfinite (run, step)``, ``llc_below_fraction (run, step,
        chain)``, and ``loss_trace (run, step, chain, draw)`` (``L_n`` at every ``thin``-th draw,
        float32). Attrs gain ``llc_config``, ``llc_beta``, ``llc_nbeta`` and the combined hash.
        Checkpoints with non-finite parameters (runs that diverged in training) get ``llc`` NaN
        and are counted neither as escaped nor as non-finite chains.
    """
    config = config or LLCConfig()
    if not isinstance(config, LLCConfig):
        raise InputError(f"config: expected an LLCConfig, got {type(config).__name__}")
    validate_trajectory(ds, finite=False)  # non-finite checkpoints are flagged below, not refused
    if "x" not in ds:
        raise InputError("trajectory: expected the training data variable 'x', got none")
    tc = train_config_of(ds)
    tdtype = resolve_dtype(dtype or config.dtype)
    tdev = resolve_device(device or tc.device)
    R, T = ds.sizes["run"], ds.sizes["step"]
    K = config.chains
    r, c = ds.sizes["hidden"], ds.sizes["feature"]
    chunk = config.chunk or T
    llc = np.empty((R, T, K))
    init = np.empty((R, T, K))
    esc = np.empty((R, T, K), dtype=bool)
    nonf = np.empty((R, T, K), dtype=bool)
    below = np.empty((R, T, K))
    thin_idx = np.arange(0, config.draws, config.thin)
    trace = np.empty((R, T, K, len(thin_idx)), dtype=np.float32)
    Wall = ds["W"].transpose("run", "step", "hidden", "feature").values
    ball = ds["b"].transpose("run", "step", "feature").values
    # SGLD noise keyed by (run, step, chain): chunks of checkpoints and blocks of runs see the
    # same numbers as one program over the whole trajectory
    run_ids = torch.as_tensor(ds["run"].values.astype(np.int64))
    step_ids = torch.as_tensor(ds["step"].values.astype(np.int64))
    # checkpoints of diverged runs (non-finite parameters) get no estimate: SGLD starts them at 0
    # (cheap, finite, no warnings) and their results are discarded below
    skip = ~(np.isfinite(Wall).all(axis=(-2, -1)) & np.isfinite(ball).all(axis=-1))  # (R, T)
    if skip.any():
        Wall, ball = Wall.copy(), ball.copy()
        Wall[skip], ball[skip] = 0.0, 0.0
    with threads(config.threads), torch.inference_mode():
        data = onehot_tensors(ds["x"].values, dtype=tdtype, device=tdev)
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            Tc = t1 - t0
            W = torch.as_tensor(Wall[:, t0:t1], dtype=tdtype, device=tdev)
            b = torch.as_tensor(ball[:, t0:t1], dtype=tdtype, device=tdev)
            W = W.unsqueeze(2).expand(R, Tc, K, r, c).reshape(R, Tc * K, r, c)
            b = b.unsqueeze(2).expand(R, Tc, K, c).reshape(R, Tc * K, c)
            noise = KeyedNoise.from_ids(child_seed(config.seed, "sgd", "sgld"), run_ids.view(R, 1, 1), step_ids[t0:t1].view(1, Tc, 1),
                                        torch.arange(K).view(1, 1, K)).reshape(R, Tc * K)
            res = sgld_llc(W, b, data, config, noise, progress=progress)
            sl = (slice(None), slice(t0, t1))
            llc[sl] = res["llc"].values.reshape(R, Tc, K)
            init[sl] = res["init_loss"].values.reshape(R, Tc, K)
            esc[sl] = res["escaped"].values.reshape(R, Tc, K)
            nonf[sl] = res["nonfinite"].values.reshape(R, Tc, K)
            below[sl] = res["below_fraction"].values.reshape(R, Tc, K)
            trace[sl] = res["loss_trace"].values.reshape(R, Tc, K, -1)[..., thin_idx]
    if skip.any():
        llc[skip], init[skip], below[skip], trace[skip] = np.nan, np.nan, np.nan, np.nan
        esc[skip], nonf[skip] = False, False  # no chain ran: a diverged checkpoint, not chains gone bad
    valid = ~esc & ~nonf & ~skip[..., None]
    n_valid = valid.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = np.where(valid, llc, 0.0)
        mean = np.where(n_valid > 0, vals.sum(-1) / np.maximum(n_valid, 1), np.nan)
        var = np.where(valid, (llc - mean[..., None]) ** 2, 0.0).sum(-1) / np.maximum(n_valid - 1, 1)
        sem = np.where(n_valid > 1, np.sqrt(var / np.maximum(n_valid, 1)), np.nan)
    out = ds.drop_vars([v for v in ds.data_vars if str(v).startswith("llc") or v == "loss_trace"])
    out = out.assign_coords(chain=np.arange(K), draw=thin_idx)
    rs, rsc = ("run", "step"), ("run", "step", "chain")
    out["llc"] = (rs, mean)
    out["llc"].attrs["long_name"] = "LLC estimate: mean over chains that neither escaped nor went non-finite"
    out["llc_std"] = (rs, sem)
    out["llc_chain"] = (rsc, llc)
    out["llc_init_loss"] = (rsc, init)
    out["llc_escaped"] = (rsc, esc)
    out["llc_nonfinite"] = (rsc, nonf)
    out["llc_below_fraction"] = (rsc, below)
    out["llc_n_escaped"] = (rs, esc.sum(-1).astype(np.int64))
    out["llc_n_nonfinite"] = (rs, nonf.sum(-1).astype(np.int64))
    out["loss_trace"] = (rsc + ("draw",), trace)
    out["loss_trace"].attrs["long_name"] = "SGLD L_n trace per chain (every thin-th draw)"
    nbeta = config.nbeta(tc.n)
    out.attrs.update({
        "llc_config": json.dumps(config.to_dict(), sort_keys=True),
        "llc_beta": config.beta_for(tc.n),
        "llc_nbeta": nbeta,
        "config_hash": config_hash(tc, config),
        "train_config_hash": config_hash(tc),
    })
    return out
