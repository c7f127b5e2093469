"""Phase occupancy that does not depend on chains crossing between phases: ladder bridge sampling.

Why: at large ``n`` NUTS chains stay in the basin where their prior start fell, so the fraction
of draws per phase measures basins of attraction, not posterior mass. Within a basin, though, the
chains do sample the posterior restricted to that basin. On nested data the posteriors along the
ladder are linked: with ``S_k(w) = sum_{i <= n_k} l(x_i, w)`` and ``Delta_k = S_{k+1} - S_k``,

``Z_{k+1}(A) / Z_k(A) = E_{p_k | A}[exp(-beta Delta_k / 2)] / E_{p_{k+1} | A}[exp(+beta Delta_k / 2)]``

(the geometric bridge between neighbouring rungs), where ``Z_k(A)`` is the posterior mass of
region ``A`` (a phase label, or "unclassified") up to a constant shared by all regions. Starting
from the draw fractions at the smallest ``n`` (where chains switch phases freely), the chained
ratios give every region's mass at every ``n`` from within-region averages only. This is Chopin's
(2002) data-tempered importance sampling, with the ladder as the tempering schedule and NUTS as
the move kernel.

Conventions: a region without draws at ``n_{k+1}`` uses the forward ratio
``E_{p_k|A}[exp(-beta Delta_k)]``; without draws at ``n_k`` the backward one; a region first seen
at ``n_k`` enters with its draw fraction there (relative to the regions already tracked); a region
seen at neither rung is dropped (its mass is too small for any chain to find). Uncertainty: the
percentile bootstrap over chains, resampled independently at every ``n`` and pushed through the
whole chain of ratios.
"""

from __future__ import annotations

__all__ = ["block_losses", "rung_deltas", "reweighted_occupancy"]

from typing import Mapping

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from comparisons.theory import UNCLASSIFIED, child_rng, empirical_loss_onehot, is_onehot, onehot_summary
from comparisons.theory.potential import empirical_loss

from .occupancy import cell_arrays, chain_summary, draw_labels, labelled_occupancy, posterior_attrs


#: how :func:`reweighted_occupancy` derives its bootstrap streams from ``seed`` (recorded in the attrs)
BRIDGE_SEED_RULE = "child_rng(seed, 'bayes', 'bootstrap', 'bridge', n): one stream per n"


def block_losses(idata, x_block: np.ndarray) -> np.ndarray:
    """``sum_i l(x_i, w)`` over the rows of ``x_block`` for every draw; shape ``(chain, draw)``."""
    W = idata.posterior["W"].transpose("chain", "draw", "hidden", "feature").values
    b = idata.posterior["b"].transpose("chain", "draw", "feature").values
    if is_onehot(x_block):
        return len(x_block) * empirical_loss_onehot(W, b, onehot_summary(x_block))
    return np.stack([len(x_block) * empirical_loss(W[c], b[c], x_block) for c in range(W.shape[0])])


def _chain_sums(lab: np.ndarray, name: str, logw: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per chain: count of draws in ``name`` and ``sum exp(logw - shift)`` over them; the shift."""
    mask = lab == name
    shift = float(np.max(logw[mask])) if mask.any() else 0.0
    return mask.sum(axis=1).astype(float), np.where(mask, np.exp(logw - shift), 0.0).sum(axis=1), shift


def _log_mean(cnt: np.ndarray, s: np.ndarray, shift: float, idx: np.ndarray) -> np.ndarray:
    """Log of the within-region mean over the resampled chains ``idx (B, C)``; -inf if empty."""
    c = cnt[idx].sum(axis=1)
    t = s[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, np.log(t) + shift - np.log(np.maximum(c, 1)), -np.inf)


def rung_deltas(posteriors: Mapping[int, object], x: np.ndarray, beta: float = 1.0) -> dict:
    """``beta Delta_k`` at both rungs of every neighbouring pair: ``{(n, m): (at n, at m)}``.

    The costly part of :func:`reweighted_occupancy` and independent of the labelling level, so
    callers estimating several levels compute it once and pass it in.
    """
    ns = sorted(int(n) for n in posteriors)
    return {(n, m): (block_losses(posteriors[n], x[n:m]) * beta, block_losses(posteriors[m], x[n:m]) * beta)
            for n, m in zip(ns[:-1], ns[1:])}


def reweighted_occupancy(posteriors: Mapping[int, object], x: np.ndarray, *, beta: float = 1.0,
                         B: int = 1000, seed: int = 0, level: str = "phase",
                         alpha: float = 0.05, deltas: dict | None = None,
                         estimator: str = "nuts_bridge") -> tuple[xr.Dataset, dict]:
    """Posterior mass of every phase at every ``n`` by ladder bridge sampling.

    Parameters
    ----------
    posteriors : mapping n -> InferenceData
        NUTS output at each rung (posterior ``W``, ``b``, ``phase``); data set ``n`` must be
        ``x[:n]``.
    x : ndarray, shape (n_max, c)
        The nested data stream.
    beta : float
        Inverse temperature of the posteriors.
    B : int
        Bootstrap replicates (chains resampled at every ``n``).
    level : {"phase", "family"}
    deltas : dict, optional
        :func:`rung_deltas` of the same posteriors, data and ``beta`` (computed when absent).

    Returns
    -------
    occupancy : xarray.Dataset
        The occupancy hand-off (:func:`bayes_tms.occupancy.labelled_occupancy`, estimator
        ``estimator``): ``fraction, lower, upper, chains`` (``chains``: chains whose majority
        label is the phase) and ``log_mass, log_mass_lower, log_mass_upper`` (``log`` of the
        mass, i.e. minus the measured local free energy relative to the whole posterior) over
        ``(estimator, n, phase)``; a phase with neither mass nor interval at an ``n`` is NaN
        there. Attrs: sampler, classifier, beta, bootstrap seed and its rule, bootstrap size.
    reps : dict
        ``{n: (names, boot (B, P), point (P,))}`` for :func:`bayes_tms.occupancy.transitions`.
    """
    ns = sorted(int(n) for n in posteriors)
    if deltas is None:
        deltas = rung_deltas(posteriors, x, beta)
    labs = {n: draw_labels(posteriors[n], level) for n in ns}
    names = sorted(set().union(*(set(np.unique(v)) for v in labs.values())) | {UNCLASSIFIED},
                   key=lambda s: (s == UNCLASSIFIED, s))
    idx = {}
    for n in ns:
        C = labs[n].shape[0]
        rng = child_rng(seed, "bayes", "bootstrap", "bridge", int(n))
        idx[n] = np.concatenate([np.arange(C)[None], rng.integers(0, C, size=(B, C))])  # row 0: point
    R = B + 1
    P = len(names)
    logZ = np.full((len(ns), R, P), -np.inf)
    # draws in one bootstrap replicate of rung n: resampled chains x draws per chain (not
    # labs[n][idx[n]].size, which builds an (R, chain, draw) array of labels to count it)
    draws = {n: idx[n].shape[1] * labs[n].shape[1] for n in ns}
    # first rung: the draw fractions (chains mix there)
    n0 = ns[0]
    for j, nm in enumerate(names):
        cnt = (labs[n0] == nm).sum(axis=1).astype(float)
        with np.errstate(divide="ignore"):
            logZ[0, :, j] = np.log(cnt[idx[n0]].sum(axis=1) / draws[n0])
    for k in range(len(ns) - 1):
        n, m = ns[k], ns[k + 1]
        delta_n, delta_m = deltas[(n, m)]
        seen = np.isfinite(logZ[k])  # (R, P)
        frac_m = np.stack([(labs[m] == nm).sum(axis=1)[idx[m]].sum(axis=1) / draws[m] for nm in names], axis=1)
        for j, nm in enumerate(names):
            cn, fwd_half, sh1 = _chain_sums(labs[n], nm, -delta_n / 2)
            _, fwd_full, sh2 = _chain_sums(labs[n], nm, -delta_n)
            cm, bwd_half, sh3 = _chain_sums(labs[m], nm, delta_m / 2)
            _, bwd_full, sh4 = _chain_sums(labs[m], nm, delta_m)
            f_half = _log_mean(cn, fwd_half, sh1, idx[n])
            f_full = _log_mean(cn, fwd_full, sh2, idx[n])
            b_half = _log_mean(cm, bwd_half, sh3, idx[m])
            b_full = _log_mean(cm, bwd_full, sh4, idx[m])
            has_n, has_m = np.isfinite(f_half), np.isfinite(b_half)
            log_ratio = np.full(R, np.nan)
            both, only_n, only_m = has_n & has_m, has_n & ~has_m, ~has_n & has_m
            log_ratio[both] = f_half[both] - b_half[both]
            log_ratio[only_n] = f_full[only_n]
            log_ratio[only_m] = -b_full[only_m]
            logZ[k + 1, :, j] = np.where(seen[:, j] & np.isfinite(log_ratio), logZ[k, :, j] + log_ratio, -np.inf)
        # regions first seen at this rung enter with their draw fraction relative to the tracked ones
        tracked = np.isfinite(logZ[k + 1])
        new = ~seen & (frac_m > 0)
        if new.any():
            known_frac = np.where(tracked, frac_m, 0.0).sum(axis=1)
            with np.errstate(divide="ignore"):
                log_total = logsumexp(np.where(tracked, logZ[k + 1], -np.inf), axis=1) - np.log(known_frac)
                entry = np.log(np.where(frac_m > 0, frac_m, 1.0)) + log_total[:, None]
            ok = new & np.isfinite(log_total)[:, None]
            logZ[k + 1] = np.where(ok, entry, logZ[k + 1])
    norm = logsumexp(logZ, axis=2, keepdims=True)
    logm = logZ - norm  # (K, R, P)
    cells, reps = {}, {}
    for k, n in enumerate(ns):
        frac = np.exp(logm[k])
        point, boot = frac[0], frac[1:]
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        with np.errstate(invalid="ignore"):
            llo, lhi = np.quantile(logm[k, 1:], [alpha / 2, 1 - alpha / 2], axis=0)
        majority = [c["phase"] for c in chain_summary(posteriors[n], level)]
        for j in (j for j, nm in enumerate(names) if point[j] > 0 or hi[j] > 0):
            cells[n, names[j]] = (point[j], lo[j], hi[j], sum(p == names[j] for p in majority),
                                  logm[k, 0, j], llo[j], lhi[j])
        reps[n] = (list(names), boot, point)
    keys = ("fraction", "lower", "upper", "chains", "log_mass", "log_mass_lower", "log_mass_upper")
    shown = [nm for nm in names if any((n, nm) in cells for n in ns)]
    occ = labelled_occupancy(ns, shown, cell_arrays(ns, shown, cells, keys), estimator=estimator, level=level,
                             attrs={"sampler": "nuts", **posterior_attrs(posteriors), "beta": float(beta),
                                    "bootstrap_seed": int(seed), "seed_rule": BRIDGE_SEED_RULE, "bootstrap": int(B),
                                    "alpha": float(alpha)})
    return occ, reps
