"""Asymptotic local free energies of the phases and the sample sizes where they cross.

Watanabe's asymptotics for the local free energy of phase ``alpha`` (``../shared/tms-study.md``
section 4), for the posterior ``phi(w) exp(-n L_n(w))`` with prior ``N(0, prior_sigma^2)``:

``F_n(alpha) = n L(w*_alpha) + lambda_alpha log n + |w*_alpha|^2 / (2 prior_sigma^2)``

(up to a constant shared by all phases). The posterior mass of phase ``alpha`` is roughly
proportional to ``exp(-F_n(alpha))``, so the dominant phase is the one of least ``F_n``.
"""

from __future__ import annotations

__all__ = ["effective_llc", "free_energy", "crossings", "critical_sample_sizes", "dominant_phase",
           "dominant_intervals"]

from typing import Mapping, Sequence

import numpy as np
from scipy import optimize

from ..errors import InputError
from .kgons import Phase


def effective_llc(phase: Phase, llc: Mapping[str, float] | None = None) -> float:
    """The learning coefficient used for ``phase``.

    ``llc[phase.label]`` when given (e.g. a measured estimate), else the theoretical ``phase.llc``,
    else (on a non-C^2 wall) the Hessian-rank bound ``phase.llc_bound``.
    """
    if llc is not None and phase.label in llc:
        return float(llc[phase.label])
    return float(phase.llc if phase.llc is not None else phase.llc_bound)


def _coefficients(phases: Sequence[Phase], llc, prior_sigma: float) -> np.ndarray:
    if prior_sigma <= 0 or not np.isfinite(prior_sigma):
        raise InputError(f"prior_sigma: expected a positive number, got {prior_sigma}")
    return np.array([[p.loss, effective_llc(p, llc), p.prior_term / prior_sigma**2] for p in phases])


def free_energy(phases: Sequence[Phase], n: np.ndarray | float, llc: Mapping[str, float] | None = None,
                prior_sigma: float = 1.0) -> np.ndarray:
    """``F_n`` of every phase at every ``n``.

    Parameters
    ----------
    phases : sequence of Phase
    n : float or array_like, shape (m,)
        Sample sizes (> 0).
    llc : mapping label -> float, optional
        Learning coefficients replacing the theoretical ones.
    prior_sigma : float

    Returns
    -------
    ndarray, shape (len(phases),) + shape(n)

    Examples
    --------
    >>> from comparisons.theory import enumerate_phases
    >>> p = [q for q in enumerate_phases(6) if q.label in ("5", "6")]
    >>> [q.label for q in p]
    ['6', '5']
    >>> F = free_energy(p, [100.0, 10_000.0])
    >>> bool(F[0, 0] < F[1, 0]), bool(F[0, 1] < F[1, 1])  # 6 loses at small n, wins at large n
    (False, True)
    """
    n = np.asarray(n, dtype=float)
    if np.any(~(n > 0) | np.isinf(n)):
        bad = ~(n > 0) | np.isinf(n)
        raise InputError(f"n: expected finite positive sample sizes, got {n[bad].ravel()[:3].tolist()}")
    coef = _coefficients(phases, llc, prior_sigma)
    shape = (len(phases),) + (1,) * n.ndim
    L, lam, prior = (coef[:, i].reshape(shape) for i in range(3))
    return n * L + lam * np.log(n) + prior


def _roots(dL: float, dlam: float, dprior: float, n_min: float, n_max: float) -> list[float]:
    """Roots of ``g(n) = n dL + dlam log n + dprior`` in ``[n_min, n_max]`` (at most two)."""
    def g(n: float) -> float:
        return n * dL + dlam * np.log(n) + dprior

    edges = [n_min, n_max]
    if dL != 0 and -dlam / dL > n_min and -dlam / dL < n_max:  # g' changes sign there
        edges.insert(1, -dlam / dL)
    roots = []
    for a, b in zip(edges[:-1], edges[1:]):
        ga, gb = g(a), g(b)
        if ga == 0:
            roots.append(a)
        elif ga * gb < 0:
            roots.append(optimize.brentq(g, a, b, xtol=1e-12, rtol=1e-14))
    if g(n_max) == 0:
        roots.append(n_max)
    return sorted(set(roots))


def crossings(phases: Sequence[Phase], n_max: float = 1e6, n_min: float = 1.0,
              llc: Mapping[str, float] | None = None, prior_sigma: float = 1.0) -> list[dict]:
    """Every ``n`` in ``[n_min, n_max]`` where two phases' free energies are equal.

    Returns a list of ``{"from": a, "to": b, "n": n}`` sorted by ``n``: ``from`` is the phase of
    lower ``F_n`` just below ``n`` (the one being overtaken), ``to`` the one just above.
    """
    if not (0 < n_min < n_max) or not np.isfinite(n_max):
        raise InputError(f"n range: expected 0 < n_min < n_max < inf, got [{n_min}, {n_max}]")
    coef = _coefficients(phases, llc, prior_sigma)
    out = []
    for i in range(len(phases)):
        for j in range(i + 1, len(phases)):
            d = coef[i] - coef[j]
            for n in _roots(d[0], d[1], d[2], n_min, n_max):
                slope = d[0] + d[1] / n  # d/dn (F_i - F_j)
                a, b = (i, j) if slope > 0 else (j, i)  # F_i rises above F_j: i is overtaken
                out.append({"from": phases[a].label, "to": phases[b].label, "n": float(n)})
    return sorted(out, key=lambda e: (e["n"], e["from"], e["to"]))


def critical_sample_sizes(a: Phase, b: Phase, n_max: float = 1e6, llc: Mapping[str, float] | None = None,
                          prior_sigma: float = 1.0) -> list[float]:
    """The roots in ``n`` of ``F_n(a) = F_n(b)`` on ``[1, n_max]``."""
    return [e["n"] for e in crossings([a, b], n_max=n_max, llc=llc, prior_sigma=prior_sigma)]


def dominant_phase(phases: Sequence[Phase], n: np.ndarray | float, llc: Mapping[str, float] | None = None,
                   prior_sigma: float = 1.0) -> np.ndarray:
    """Label of the phase of least ``F_n`` at each ``n``; shape of ``n``."""
    F = free_energy(phases, n, llc, prior_sigma)
    labels = np.array([p.label for p in phases], dtype=object)
    return np.asarray(labels[np.argmin(F, axis=0)], dtype=str)


def dominant_intervals(phases: Sequence[Phase], n_min: float = 10.0, n_max: float = 1e6,
                       llc: Mapping[str, float] | None = None, prior_sigma: float = 1.0) -> list[dict]:
    """The sequence of dominant phases as ``n`` grows from ``n_min`` to ``n_max``.

    Returns ``[{"n_from", "n_to", "phase"}, ...]``: contiguous intervals with their minimiser of
    ``F_n``; the boundaries are exact crossings of the two phases involved.
    """
    cuts = sorted({n_min, n_max, *(e["n"] for e in crossings(phases, n_max, n_min, llc, prior_sigma))})
    mids = np.sqrt(np.array(cuts[:-1]) * np.array(cuts[1:]))
    winners = dominant_phase(phases, mids, llc, prior_sigma)
    out: list[dict] = []
    for lo, hi, w in zip(cuts[:-1], cuts[1:], winners):
        if out and out[-1]["phase"] == w:
            out[-1]["n_to"] = hi
        else:
            out.append({"n_from": float(lo), "n_to": float(hi), "phase": str(w)})
    return out
