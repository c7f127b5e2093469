"""Method 2 of the population-loss LLC: volume scaling by subset simulation (no NUTS, no gradient).

``V(eps) = Prior{w in basin : L(w) - L* < eps} ~ C eps^lambda``. Particles from the prior in the
basin; at each level the fraction ``p0`` with the lowest loss is kept (``log V`` drops by
``log p0``), replicated, and moved by random-walk Metropolis targeting the prior restricted to
``{L - L* < eps_k}``. ``lambda`` is the slope of ``log V`` against ``log eps`` (:func:`volume_fit`,
with or without the ``sqrt`` correction); its SE comes from independent repeats.
"""

from __future__ import annotations

__all__ = ["VOLUME_FITS", "volume_fit", "volume_scaling"]

import math
from collections.abc import Callable

import numpy as np

from comparisons.errors import InputError, check_positive_int

from .target import LossTarget, reject_sample

#: forms of :func:`volume_fit`: ``sqrt`` fits ``log V = c + lambda log eps + a sqrt(eps)`` (the
#: finite-m correction of the NUTS curve, ``eps ~ 1/m``); ``linear`` drops the ``sqrt`` term, which
#: below ``eps = 1e-5`` moves the slope by at most ``a * 1.6e-3``
VOLUME_FITS = ("sqrt", "linear")


def volume_scaling(target: LossTarget, *, particles: int = 1000, p0: float = 0.5, mh_steps: int = 15,
                   eps_min: float = 1e-7, eps_fit: tuple[float, float] = (1e-7, 1e-4), fit: str = "sqrt",
                   rng: np.random.Generator | int = 0, max_levels: int = 400,
                   max_init_draws: int = 10_000_000, level_stat: Callable | None = None) -> dict:
    """Prior volume ``V(eps)`` of ``{w allowed: L - L* < eps}`` by subset simulation, and its slope.

    Parameters
    ----------
    target : LossTarget
    particles : int
        Particles per level.
    p0 : float
        Fraction kept per level (``log V`` decreases by ``log p0`` per level).
    mh_steps : int
        Random-walk Metropolis steps per level (all particles at once, batched loss).
    eps_min : float
        Stop once the level is below this.
    eps_fit : (float, float)
        Range of ``eps`` over which the slope is fitted (:func:`volume_fit`).
    fit : str
        Form of the fit, one of :data:`VOLUME_FITS`.
    rng : numpy.random.Generator or int
    max_levels, max_init_draws : int
        Safety limits.
    level_stat : callable, optional
        ``level_stat(w[particles, d]) -> float``, evaluated on the particles of each level after
        its Metropolis moves (they are then prior draws restricted to ``{L - L* < eps_k}``), e.g.
        the fraction that a classifier gives the phase's label; returned as ``stat``.

    Returns
    -------
    dict
        ``eps`` (levels), ``log_v`` (``log V(eps_k) = k log p0 + log P0`` with ``P0`` the prior mass
        of the allowed region), ``llc`` (fitted slope), ``acceptance`` (mean per level), and
        ``stat`` (per level) where ``level_stat`` is given.
    """
    rng = np.random.default_rng(rng)
    particles = check_positive_int("particles", particles, minimum=20)
    _check_fit(eps_fit, fit)  # before the runs, not after them
    if not 0 < p0 < 1:
        raise InputError(f"p0: expected a number in (0, 1), got {p0}")
    if target.sample_region is not None:
        x, log_p_allowed = target.sample_region(rng, particles)
    else:
        x, log_p_allowed = reject_sample(target, rng, particles, max_init_draws)
    f = target.loss(x) - target.loss0
    lp = target.log_prior(x)
    scale = 0.5
    eps_levels, log_v, acc_levels, stats = [], [], [], []
    n_keep = max(2, int(round(p0 * particles)))
    for level in range(max_levels):
        order = np.argsort(f)
        eps = float(f[order[n_keep]])  # level: particles strictly below it are kept
        sel = order[:n_keep]
        frac = n_keep / particles
        log_v.append((log_v[-1] if log_v else log_p_allowed) + math.log(frac))
        eps_levels.append(eps)
        idx = sel[rng.integers(0, n_keep, particles)]
        x, f, lp = x[idx], f[idx], lp[idx]
        cov = np.cov(x.T) + 1e-14 * np.eye(target.d)
        chol = np.linalg.cholesky(cov)
        acc_total = 0.0
        for _ in range(mh_steps):
            prop = x + scale * rng.standard_normal(x.shape) @ chol.T
            ok = target.inside(prop)
            fp = np.full(len(x), np.inf)
            fp[ok] = target.loss(prop[ok]) - target.loss0
            lpp = np.full(len(x), -np.inf)
            lpp[ok] = target.log_prior(prop[ok])
            ok &= fp < eps
            with np.errstate(invalid="ignore", over="ignore"):
                acc = ok & (np.log(rng.random(len(x))) < lpp - lp)
            x[acc], f[acc], lp[acc] = prop[acc], fp[acc], lpp[acc]
            a = float(acc.mean())
            acc_total += a
            scale *= math.exp(0.5 * (a - 0.25))  # adapt towards acceptance 0.25
        acc_levels.append(acc_total / mh_steps)
        if level_stat is not None:
            stats.append(float(level_stat(x)))
        if eps < eps_min:  # also stops at a level <= 0 (a point below L*)
            break
    eps_levels, log_v = np.array(eps_levels), np.array(log_v)
    slope = volume_fit(eps_levels, log_v, eps_fit, fit)
    return {"eps": eps_levels.tolist(), "log_v": log_v.tolist(), "acceptance": acc_levels,
            "llc": slope, "particles": particles, "p0": p0, "mh_steps": mh_steps,
            "eps_fit": list(eps_fit), "fit": fit, **({"stat": stats} if level_stat is not None else {})}


def volume_fit(eps, log_v, eps_fit: tuple[float, float], fit: str = "sqrt") -> float:
    """Slope ``lambda`` of ``log V`` against ``log eps`` over the levels with ``eps`` in ``eps_fit``.

    Parameters
    ----------
    eps, log_v : array-like, shape (levels,)
        A curve of :func:`volume_scaling`.
    eps_fit : (float, float)
        The range of levels fitted.
    fit : str
        ``sqrt``: ``log V = c + lambda log eps + a sqrt(eps)``; ``linear``: without ``a``
        (:data:`VOLUME_FITS`).

    Returns
    -------
    float
        ``lambda``; NaN with fewer than 4 levels in range, or where a level is at or below 0 (the
        region holds points below ``L*``: the restriction is not local).
    """
    _check_fit(eps_fit, fit)
    eps, log_v = np.asarray(eps, dtype=float), np.asarray(log_v, dtype=float)
    if eps.size == 0 or not np.isfinite(eps).all() or eps.min() <= 0:
        return float("nan")
    sel = (eps >= eps_fit[0]) & (eps <= eps_fit[1])
    if sel.sum() < 4:
        return float("nan")
    cols = [np.ones(sel.sum()), np.log(eps[sel])] + ([np.sqrt(eps[sel])] if fit == "sqrt" else [])
    beta = np.linalg.lstsq(np.stack(cols, axis=1), log_v[sel], rcond=None)[0]
    return float(beta[1])


def _check_fit(eps_fit, fit: str) -> None:
    """One-line errors for a fit form outside :data:`VOLUME_FITS` or a range that is not two
    positive numbers in increasing order (``inf`` allowed above)."""
    if fit not in VOLUME_FITS:
        raise InputError(f"fit: expected one of {', '.join(VOLUME_FITS)}, got {fit!r}")
    try:
        lo, hi = (float(x) for x in eps_fit)
    except (TypeError, ValueError):
        raise InputError(f"eps_fit: expected two numbers (low, high), got {eps_fit!r}") from None
    if not 0 < lo < hi:
        raise InputError(f"eps_fit: expected 0 < low < high, got {eps_fit!r}")
