"""Asymptotic local free energies of the phases and the sample sizes where they cross.

Watanabe's asymptotics for the local free energy of phase ``alpha`` (``docs/study.md``
section 4), for the tempered posterior ``phi(w) exp(-n beta L_n(w))`` with prior
``N(0, prior_sigma^2)``:

``F_n(alpha) = n beta L(w*_alpha) + lambda_alpha log(n beta) + |w*_alpha|^2 / (2 prior_sigma^2)``

(up to a constant shared by all phases). The posterior mass of phase ``alpha`` is roughly
proportional to ``exp(-F_n(alpha))``, so the dominant phase is the one of least ``F_n``.

For the population posterior the inverse temperature enters only through the effective sample
size ``n beta`` (:func:`effective_sample_size`, the one place where the substitution is made):
every prediction at ``beta`` is the ``beta = 1`` prediction at ``n beta``, so critical sample
sizes scale as ``n_cr(beta) = n_cr(1) / beta``.
"""

from __future__ import annotations

__all__ = ["check_beta", "effective_sample_size", "llc_beta", "effective_llc", "free_energy", "crossings",
           "critical_sample_sizes", "dominant_phase", "dominant_intervals"]

import numbers
from typing import Mapping, Sequence

import numpy as np
from scipy import optimize

from ..errors import InputError, check_positive_float, shown
from .kgons import Phase


def llc_beta(n: float) -> float:
    """``beta* = 1 / log n``: the inverse temperature of the LLC estimator (Watanabe's WBIC).

    The one definition in the project; ``n beta* = n / log n`` is the tempered posterior's
    effective sample size in every LLC estimate (SGLD and NUTS alike).
    """
    n = float(n)
    if not (np.isfinite(n) and n > 1):
        raise InputError(f"n: expected a sample size > 1 for beta* = 1/log n, got {n!r}")
    return 1.0 / float(np.log(n))


def check_beta(beta: float) -> float:
    """``beta`` as a float if it is a finite number > 0, else :class:`InputError`
    (:func:`comparisons.errors.check_positive_float`)."""
    return check_positive_float("beta", beta)


def effective_sample_size(n: np.ndarray | float, beta: float = 1.0) -> np.ndarray | float:
    """The effective sample size ``n beta`` of the tempered posterior ``exp(-n beta L_n)``.

    The only place where the inverse temperature enters the theory: every free energy below is a
    function of ``n beta``, and a crossing found at effective size ``m`` sits at ``n = m / beta``.

    Parameters
    ----------
    n : float or array_like, any shape
    beta : float
        Inverse temperature, positive and finite (``beta = 1`` returns ``n`` unchanged).

    Returns
    -------
    float or ndarray, shape of ``n``
    """
    return n * check_beta(beta)


def effective_llc(phase: Phase, llc: Mapping[str, float] | None = None) -> float:
    """The learning coefficient used for ``phase``.

    ``llc[phase.label]`` when given, else the exact ``phase.llc`` (rank/2 where ``L`` is C^2),
    else (on a non-C^2 wall) the value measured on the population loss, ``phase.llc_measured``,
    where the shipped table has one, else the Hessian-rank bound ``phase.llc_bound``. Every
    prediction of the package (crossings, dominant phases, transitions) goes through here.
    """
    if llc is not None and phase.label in llc:
        return float(llc[phase.label])
    if phase.llc is not None:
        return float(phase.llc)
    measured = getattr(phase, "llc_measured", None)
    return float(measured if measured is not None else phase.llc_bound)


def _real(name: str, value) -> float:
    """``value`` as a float if it is a real number (not a bool, a string or an array), else InputError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, np.complexfloating):
        raise InputError(f"{name}: expected a real number, got {shown(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        raise InputError(f"{name}: expected a real number within the float range, got {shown(value)}") from None


def _check_phases(phases) -> Sequence[Phase]:
    """``phases`` as a tuple if it is a non-empty sequence of :class:`Phase`, else InputError."""
    if isinstance(phases, (str, bytes, Phase)) or not isinstance(phases, (Sequence, np.ndarray)) \
            or (isinstance(phases, np.ndarray) and phases.ndim != 1):
        raise InputError(f"phases: expected a non-empty sequence of Phase (enumerate_phases(c)), "
                         f"got {type(phases).__name__}")
    phases = tuple(phases)
    if not phases:
        raise InputError("phases: expected a non-empty sequence of Phase (enumerate_phases(c)), got an empty one")
    bad = next((p for p in phases if not isinstance(p, Phase)), None)
    if bad is not None:
        raise InputError(f"phases: expected Phase objects (enumerate_phases(c)), got a {type(bad).__name__}")
    return phases


def _check_llc(llc) -> Mapping[str, float] | None:
    """``llc`` if it is None or a mapping of phase labels to finite numbers >= 0, else InputError."""
    if llc is None:
        return None
    if not isinstance(llc, Mapping):
        raise InputError(f"llc: expected a mapping of phase label to learning coefficient, got {type(llc).__name__}")
    for label, value in llc.items():
        check_positive_float(f"llc[{label!r}]", _real(f"llc[{label!r}]", value), allow_zero=True)
    return llc


def _coefficients(phases: Sequence[Phase], llc, prior_sigma: float) -> np.ndarray:
    phases, llc = _check_phases(phases), _check_llc(llc)
    prior_sigma = check_positive_float("prior_sigma", _real("prior_sigma", prior_sigma))
    variance = prior_sigma * prior_sigma  # inf or 0 where sigma's square leaves the float range
    if not 0 < variance < np.inf:
        raise InputError(f"prior_sigma: expected a number > 0 with a finite nonzero square, got {prior_sigma}")
    return np.array([[p.loss, effective_llc(p, llc), p.prior_term / variance] for p in phases])


def free_energy(phases: Sequence[Phase], n: np.ndarray | float, llc: Mapping[str, float] | None = None,
                prior_sigma: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """``F_n`` of every phase at every ``n`` (tempered at inverse temperature ``beta``).

    Parameters
    ----------
    phases : sequence of Phase
    n : float or array_like, shape (m,)
        Sample sizes (> 0).
    llc : mapping label -> float, optional
        Learning coefficients replacing the theoretical ones.
    prior_sigma : float
    beta : float
        Inverse temperature (> 0); ``F`` is evaluated at the effective sample size ``n beta``.

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
    try:
        n = np.asarray(n, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"n: expected sample sizes (numbers), got {n!r}"[:200]) from None
    if n.size == 0:
        raise InputError("n: expected at least one sample size, got an empty array")
    if np.any(~(n > 0) | np.isinf(n)):
        bad = ~(n > 0) | np.isinf(n)
        raise InputError(f"n: expected finite positive sample sizes, got {n[bad].ravel()[:3].tolist()}")
    m = effective_sample_size(n, beta)
    coef = _coefficients(phases, llc, prior_sigma)
    shape = (len(phases),) + (1,) * m.ndim
    L, lam, prior = (coef[:, i].reshape(shape) for i in range(3))
    return m * L + lam * np.log(m) + prior


def _roots(dL: float, dlam: float, dprior: float, n_min: float, n_max: float) -> list[float]:
    """Roots of ``g(n) = n dL + dlam log n + dprior`` in ``[n_min, n_max]`` (at most two).

    Found in ``t = log n`` (``h(t) = e^t dL + dlam t + dprior``), so that any range of positive
    finite ``n`` converges, to a relative accuracy of ``1e-13`` in ``n``.
    """
    def h(t: float) -> float:
        return float(np.exp(t)) * dL + dlam * t + dprior

    lo, hi = float(np.log(n_min)), float(np.log(n_max))
    edges = [lo, hi]
    if dL != 0 and -dlam / dL > n_min and -dlam / dL < n_max:  # g' changes sign there
        edges.insert(1, float(np.log(-dlam / dL)))
    roots = []
    for a, b in zip(edges[:-1], edges[1:]):
        ha, hb = h(a), h(b)
        if ha == 0:
            roots.append(float(np.exp(a)))
        elif np.sign(ha) * np.sign(hb) < 0:
            roots.append(float(np.exp(optimize.brentq(h, a, b, xtol=1e-13, rtol=1e-15))))
    if h(hi) == 0:
        roots.append(float(n_max))
    return sorted(set(roots))


def crossings(phases: Sequence[Phase], n_max: float = 1e6, n_min: float = 1.0,
              llc: Mapping[str, float] | None = None, prior_sigma: float = 1.0,
              beta: float = 1.0) -> list[dict]:
    """Every ``n`` in ``[n_min, n_max]`` where two phases' free energies are equal.

    The roots are found in the effective sample size ``m = n beta`` (on ``[n_min beta, n_max
    beta]``) and reported as ``n = m / beta``, so ``n_cr(beta) = n_cr(1) / beta``.

    Returns a list of ``{"from": a, "to": b, "n": n}`` sorted by ``n``: ``from`` is the phase of
    lower ``F_n`` just below ``n`` (the one being overtaken), ``to`` the one just above.
    """
    n_min, n_max = _real("n_min", n_min), _real("n_max", n_max)
    if not (0 < n_min < n_max) or not np.isfinite(n_max):
        raise InputError(f"n range: expected 0 < n_min < n_max < inf, got [{n_min}, {n_max}]")
    beta = check_beta(beta)
    m_min, m_max = effective_sample_size(n_min, beta), effective_sample_size(n_max, beta)
    if not (0 < m_min and np.isfinite(m_max)):
        raise InputError(f"n beta: expected a positive finite effective sample size range, got "
                         f"[{m_min}, {m_max}] (n in [{n_min}, {n_max}], beta = {beta})")
    coef = _coefficients(phases, llc, prior_sigma)
    out = []
    for i in range(len(phases)):
        for j in range(i + 1, len(phases)):
            d = coef[i] - coef[j]
            for m in _roots(d[0], d[1], d[2], m_min, m_max):
                slope = d[0] + d[1] / m  # d/dm (F_i - F_j), same sign as d/dn
                a, b = (i, j) if slope > 0 else (j, i)  # F_i rises above F_j: i is overtaken
                out.append({"from": phases[a].label, "to": phases[b].label, "n": float(m / beta)})
    return sorted(out, key=lambda e: (e["n"], e["from"], e["to"]))


def critical_sample_sizes(a: Phase, b: Phase, n_max: float = 1e6, llc: Mapping[str, float] | None = None,
                          prior_sigma: float = 1.0, beta: float = 1.0) -> list[float]:
    """The roots in ``n`` of ``F_n(a) = F_n(b)`` on ``[1, n_max]`` at inverse temperature ``beta``."""
    return [e["n"] for e in crossings([a, b], n_max=n_max, llc=llc, prior_sigma=prior_sigma, beta=beta)]


def dominant_phase(phases: Sequence[Phase], n: np.ndarray | float, llc: Mapping[str, float] | None = None,
                   prior_sigma: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """Label of the phase of least ``F_n`` at each ``n`` (inverse temperature ``beta``); shape of ``n``."""
    F = free_energy(phases, n, llc, prior_sigma, beta)
    labels = np.array([p.label for p in phases], dtype=object)
    return np.asarray(labels[np.argmin(F, axis=0)], dtype=str)


def dominant_intervals(phases: Sequence[Phase], n_min: float = 10.0, n_max: float = 1e6,
                       llc: Mapping[str, float] | None = None, prior_sigma: float = 1.0,
                       beta: float = 1.0) -> list[dict]:
    """The sequence of dominant phases as ``n`` grows from ``n_min`` to ``n_max`` at inverse temperature ``beta``.

    Returns ``[{"n_from", "n_to", "phase"}, ...]``: contiguous intervals with their minimiser of
    ``F_n``; the boundaries are exact crossings of the two phases involved. Where several phases
    tie at one ``n`` (equal free energies up to rounding, e.g. ``6`` and ``6+`` at c = 7), their
    crossings differ by rounding only; the slivers between them (relative width below 1e-9) carry
    no phase of their own and join the interval before them.
    """
    phases = _check_phases(phases)
    n_min, n_max = _real("n_min", n_min), _real("n_max", n_max)
    cuts = sorted({n_min, n_max, *(e["n"] for e in crossings(phases, n_max, n_min, llc, prior_sigma, beta))})
    mids = np.exp((np.log(cuts[:-1]) + np.log(cuts[1:])) / 2)  # geometric means, no overflow
    winners = dominant_phase(phases, mids, llc, prior_sigma, beta)
    out: list[dict] = []
    for lo, hi, w in zip(cuts[:-1], cuts[1:], winners):
        if out and (out[-1]["phase"] == w or hi <= lo * (1 + 1e-9)):
            out[-1]["n_to"] = hi
        else:
            out.append({"n_from": float(lo), "n_to": float(hi), "phase": str(w)})
    return out
