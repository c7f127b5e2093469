"""Training an ensemble of TMS models with minibatch SGD (or momentum/Adam) as one tensor program.

:func:`train` returns the trajectory ``xarray.Dataset`` of the data contract
(``docs/study.md`` section 6): ``W (run, step, hidden, feature)``, ``b (run, step,
feature)``, ``loss (run, step)`` (empirical, on the run's full training set) and
``population_loss (run, step)`` (exact, from :mod:`comparisons.theory`).

Randomness: run ``r`` draws its data set, its initialisation and its minibatch order from the
named streams ``child_rng(seed, "sgd", "run", r, "data" | "init" | "batches")`` of the project's
seed tree (:mod:`comparisons.theory.streams`), so a run's trajectory does not depend on how many
other runs share the ensemble (the tests check ensemble == loop of single runs).
"""

from __future__ import annotations

__all__ = ["train", "diverged_runs", "DIVERGENCE_BOUND", "initial_parameters", "training_data", "make_kernel",
           "train_config_of", "llc_config_of",
           "load_trajectory", "threads", "progress_bar"]

import contextlib
import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import xarray as xr

from comparisons.contracts import package_version, validate_trajectory
from comparisons.errors import InputError
from comparisons.theory import child_rng, kgon_point, population_loss, sample_inputs, solve_kgon

from .config import LLCConfig, TrainConfig, config_hash
from .kernels import Kernel, adam, momentum, run_steps, sgd
from .model import empirical_loss, minibatch_loss_and_grad, resolve_device, resolve_dtype

#: epochs of minibatch permutations drawn per call of the run's generator (fixed, so that the
#: random stream does not depend on the checkpoint grid)
PERM_CHUNK = 50
#: a run whose parameters are non-finite or exceed this magnitude has diverged (TMS optima have
#: entries of order 1; an exploding run passes 1e6 within a few steps of its blow-up)
DIVERGENCE_BOUND = 1e6


def _runaway(position: tuple) -> torch.Tensor:
    """``(R,)`` bool: runs whose parameters are non-finite or larger than DIVERGENCE_BOUND."""
    bad = None
    for t in position:
        flat = t.reshape(t.shape[0], -1)
        b = ~(flat.abs() <= DIVERGENCE_BOUND).all(dim=1)  # NaN compares False: counted bad
        bad = b if bad is None else bad | b
    return bad


def _reset_runs(state, mask: torch.Tensor):
    """Zero every per-run tensor of an optimiser state where ``mask (R,)`` is True.

    A diverged run is parked at 0 (finite, cheap, no overflow warnings) and its checkpoints are
    reported as NaN afterwards; the other runs of the batched program are untouched.
    """
    def fix(value):
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == mask.shape[0]:
            m = mask.reshape((-1,) + (1,) * (value.ndim - 1))
            return torch.where(m, torch.zeros((), dtype=value.dtype, device=value.device), value)
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(fix(v) for v in value)
        return value

    return type(state)(*(fix(v) for v in state))


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Set torch's intra-op thread count inside the block and restore it after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


#: how a trajectory's randomness derives from the root seed (recorded in its attrs)
SEED_RULE = ("comparisons.theory.streams: run r draws its data, initialisation and minibatch order from "
             "child_rng(seed, 'sgd', 'run', r, 'data' | 'init' | 'batches') (shared data: child_rng(seed, "
             "'sgd', 'data')); SGLD noise is KeyedNoise keyed by child_seed(llc seed, 'sgd', 'sgld') and "
             "(run, step, chain)")


def _run_rng(config: TrainConfig, run: int, purpose: str) -> np.random.Generator:
    return child_rng(config.seed, "sgd", "run", int(run), purpose)


def training_data(config: TrainConfig, run_ids: Sequence[int]) -> np.ndarray:
    """Training inputs ``x[R, n, c]`` (``[1, n, c]`` with ``shared_data``)."""
    if config.shared_data:
        return sample_inputs(config.n, config.features, child_rng(config.seed, "sgd", "data"))[None]
    return np.stack([sample_inputs(config.n, config.features, _run_rng(config, r, "data"))
                     for r in run_ids])


def initial_parameters(config: TrainConfig, run_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Initial parameters of each run, per the named :class:`TrainConfig` ``init``.

    Parameters
    ----------
    config : TrainConfig
        ``init`` names the scheme (``"kgon"``, ``"paper"``, ``"gaussian"``; described in
        :class:`TrainConfig`); ``init_k``, ``init_length``, ``init_noise``, ``init_scale`` and
        ``seed`` parametrise it.
    run_ids : sequence of int, length R
        Run ``r`` draws from ``child_rng(seed, "sgd", "run", r, "init")`` only, so its start does not
        depend on the other runs.

    Returns
    -------
    W : ndarray, shape (R, hidden, features)
    b : ndarray, shape (R, features)

    Notes
    -----
    ``kgon``: the regular ``init_k``-gon at its solved ``(l*, b*)`` (lowest-loss root; the 4-gon
    is ``(1, 0)``; ``init_length`` replaces ``l*``) in the first ``k`` columns at a uniform random
    rotation, the other columns zero with bias 0 (so that ``+`` decorations are reachable), plus
    ``N(0, init_noise^2)`` noise. ``paper``: the same construction for the 4-gon of length 1 and
    bias 0 without the rotation. ``gaussian``: ``N(0, init_scale^2)`` entries.
    """
    c, r = config.features, config.hidden
    k = 4 if config.init == "paper" else config.init_k
    if config.init == "kgon":
        roots = solve_kgon(k, c)
        if not roots:
            raise InputError(f"init_k: expected k with a regular k-gon critical point in c = {c}, got {k}")
        length, bias = min(roots, key=lambda lb: float(population_loss(*kgon_point(k, c, *lb))))
        if config.init_length is not None:
            length = config.init_length
    elif config.init == "paper":
        length, bias = 1.0, 0.0
    Ws, bs = [], []
    for run in run_ids:
        rng = _run_rng(config, run, "init")
        if config.init in ("kgon", "paper"):
            rotation = rng.uniform(0, 2 * np.pi) if config.init == "kgon" else 0.0
            W, b = kgon_point(k, c, length, bias, rotation=rotation)
            b[k:] = 0.0
            W = W + config.init_noise * rng.standard_normal(W.shape)
            b = b + config.init_noise * rng.standard_normal(b.shape)
        else:
            W = config.init_scale * rng.standard_normal((r, c))
            b = config.init_scale * rng.standard_normal(c)
        Ws.append(W)
        bs.append(b)
    return np.stack(Ws), np.stack(bs)


def _grad_fn(position, batch):
    W, b = position
    return minibatch_loss_and_grad(W, b, batch, with_loss=False)


def make_kernel(config: TrainConfig, grad_fn=_grad_fn) -> Kernel:
    """The optimiser kernel named by ``config.optimizer``."""
    if config.optimizer == "sgd":
        return sgd(grad_fn, config.lr)
    if config.optimizer == "momentum":
        return momentum(grad_fn, config.lr, config.momentum)
    return adam(grad_fn, config.lr, config.betas)


def _order_generators(config: TrainConfig, run_ids: Sequence[int]) -> list[np.random.Generator]:
    return [_run_rng(config, run, "batches") for run in run_ids]


def train(config: TrainConfig, run_ids: Sequence[int] | None = None,
          progress: bool = False) -> xr.Dataset:
    """Train the ensemble and return its trajectory Dataset.

    Parameters
    ----------
    config : TrainConfig
    run_ids : sequence of int, optional
        Which runs of the ensemble to train (default ``range(config.runs)``); run ``r`` is the
        same whatever else is trained with it.
    progress : bool
        Show a tqdm bar over epochs.

    Returns
    -------
    xarray.Dataset
        ``W (run, step, hidden, feature)``, ``b (run, step, feature)``, ``loss (run, step)``,
        ``population_loss (run, step)``, coordinate ``epoch (step)``, the data ``x (run|data,
        sample, feature)``, ``diverged (run)`` (bool) and ``diverged_step (run)`` (-1 if not
        diverged), and attrs ``train_config`` (JSON), ``config_hash``, ``seed``, ``version``.

    Notes
    -----
    Divergence is data, not an error: after every epoch each run whose parameters are non-finite
    or exceed :data:`DIVERGENCE_BOUND` in magnitude is flagged, ``diverged_step`` records the
    step at the end of that epoch, the run is parked at zero (no overflow warnings, the other
    runs are unaffected) and its ``W``, ``b``, ``loss`` and ``population_loss`` are NaN at every
    checkpoint from that epoch on.
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"config: expected a TrainConfig, got {type(config).__name__}")
    run_ids = list(range(config.runs) if run_ids is None else run_ids)
    dtype = resolve_dtype(config.dtype)
    device = resolve_device(config.device)
    x_np = training_data(config, run_ids)
    W0, b0 = initial_parameters(config, run_ids)
    R, n, c, B = len(run_ids), config.n, config.features, config.batch_size
    ckpts = config.checkpoint_epochs()
    ck_set = set(ckpts)
    gens = _order_generators(config, run_ids)
    kernel = make_kernel(config)
    X = torch.as_tensor(x_np, dtype=dtype, device=device)
    Xr = X.expand(R, -1, -1)
    hist_W, hist_b = [], []
    with threads(config.threads), torch.inference_mode():
        state = kernel.init((torch.as_tensor(W0, dtype=dtype, device=device),
                             torch.as_tensor(b0, dtype=dtype, device=device)))
        hist_W.append(state.position[0].cpu())
        hist_b.append(state.position[1].cpu())
        bar = progress_bar(config.epochs, "train", progress)
        nb = -(-n // B)
        full = n // B * B
        offsets = (torch.arange(R) * n).reshape(R, 1)
        Xflat = Xr.reshape(R * n, c) if X.shape[0] == R else None
        perms = None
        div_epoch = np.full(R, -1, dtype=np.int64)
        for epoch in range(config.epochs):
            if epoch % PERM_CHUNK == 0:
                perms = np.stack([g.permuted(np.tile(np.arange(n), (PERM_CHUNK, 1)), axis=1)
                                  for g in gens], 1)  # (chunk, R, n)
            perm = torch.from_numpy(perms[epoch % PERM_CHUNK])
            if Xflat is not None:
                perm = perm + offsets
                rows = Xflat[perm.to(device)]  # (R, n, c): each run's data in its own order
            else:
                rows = X[0][perm.to(device)]
            # batch-major contiguous layout: batches[s] is (R, B, c)
            batches = list(rows[:, :full].reshape(R, nb if full == n else nb - 1, B, c).transpose(0, 1)
                           .contiguous().unbind(0))
            if full < n:
                batches.append(rows[:, full:].contiguous())
            state, _ = run_steps(kernel, state, None, batches)
            bad = _runaway(state.position)
            if bool(bad.any()):
                bad_np = bad.cpu().numpy()
                div_epoch[bad_np & (div_epoch < 0)] = epoch + 1
                state = _reset_runs(state, bad)
            if epoch + 1 in ck_set:
                hist_W.append(state.position[0].cpu())
                hist_b.append(state.position[1].cpu())
            bar.update(1)
        bar.close()
        Wh = torch.stack(hist_W, 1)  # (R, T, r, c)
        bh = torch.stack(hist_b, 1)
        loss = empirical_loss(Wh.to(device), bh.to(device), X).cpu().numpy().astype(np.float64)
    Wn, bn = Wh.numpy().astype(np.float64), bh.numpy().astype(np.float64)
    ck_epochs = np.asarray(ckpts, dtype=np.int64)
    gone = (div_epoch[:, None] >= 0) & (ck_epochs[None, :] >= div_epoch[:, None])  # (R, T)
    Wn[gone], bn[gone], loss[gone] = np.nan, np.nan, np.nan
    pop = np.full(loss.shape, np.nan)
    if (~gone).any():
        pop[~gone] = population_loss(Wn[~gone], bn[~gone])
    ds = xr.Dataset(
        {
            "W": (("run", "step", "hidden", "feature"), Wn),
            "b": (("run", "step", "feature"), bn),
            "loss": (("run", "step"), loss),
            "population_loss": (("run", "step"), pop),
            "diverged": (("run",), div_epoch >= 0),
            "diverged_step": (("run",), np.where(div_epoch >= 0, div_epoch * config.steps_per_epoch, -1)),
            "x": (("data", "sample", "feature"), x_np),
        },
        coords={
            "run": np.asarray(run_ids, dtype=np.int64),
            "step": np.asarray(ckpts, dtype=np.int64) * config.steps_per_epoch,
            "epoch": ("step", np.asarray(ckpts, dtype=np.int64)),
            "hidden": np.arange(config.hidden),
            "feature": np.arange(c),
        },
        attrs={
            "train_config": json.dumps(config.to_dict(), sort_keys=True),
            "config_hash": config_hash(config),
            "train_config_hash": config_hash(config),
            "seed": config.seed,
            "seed_rule": SEED_RULE,
            "n": config.n,
            "version": package_version(),
            "description": "TMS SGD trajectory ensemble (sgd_tms)",
        },
    )
    ds["loss"].attrs["long_name"] = "empirical loss L_n on the run's training set"
    ds["population_loss"].attrs["long_name"] = "exact population loss L (comparisons.theory)"
    ds["x"].attrs["long_name"] = "training inputs (one data set per run, or one shared)"
    ds["diverged"].attrs["long_name"] = (f"run diverged: parameters non-finite or above "
                                         f"{DIVERGENCE_BOUND:g} in magnitude")
    ds["diverged_step"].attrs["long_name"] = "step at the end of the epoch of divergence (-1: none)"
    return ds


def diverged_runs(ds: xr.Dataset) -> list[int]:
    """Run ids flagged ``diverged`` in a trajectory (none for files without the flag)."""
    if "diverged" not in ds:
        return []
    return [int(r) for r in ds["run"].values[np.asarray(ds["diverged"].values, dtype=bool)]]


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar of ``total`` steps labelled ``desc`` (silent unless ``enabled``), for training and SGLD."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, mininterval=0.5)


def train_config_of(ds: xr.Dataset) -> TrainConfig:
    """The :class:`TrainConfig` stored in a trajectory's attrs."""
    return TrainConfig.from_dict(json.loads(ds.attrs["train_config"]))


def llc_config_of(ds: xr.Dataset) -> LLCConfig | None:
    """The :class:`LLCConfig` stored in a trajectory's attrs, or None before estimation."""
    s = ds.attrs.get("llc_config")
    return LLCConfig.from_dict(json.loads(s)) if s else None


def load_trajectory(path: str | Path) -> xr.Dataset:
    """Read a trajectory netCDF file (:func:`comparisons.jobs.sgd.save_trajectory`), fully loaded, validated."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"trajectory: expected an existing netCDF file, got {str(path)!r}")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except (OSError, ValueError) as exc:
        raise InputError(f"trajectory: expected a readable netCDF file, got {str(path)!r} ({exc})") from None
    return validate_trajectory(ds)  # the one trajectory contract (comparisons.contracts)
