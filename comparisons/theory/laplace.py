"""Local free energies with their O(1) terms: Laplace on the curved directions, exact flat volume.

The asymptotic formula ``F_n = n L + lambda log n + |w*|^2/2`` drops every term of order one.
Between phases those terms are not shared, and at the sample sizes of the study (n of a few
hundred) they move the predicted crossings by a factor of two or more. For a phase where ``L`` is
C^2 this module evaluates, with the prior ``N(0, sigma^2)`` on every parameter,

``F_n(alpha) = -log Z_alpha(n) ~= n L* + (r/2) log(n / 2 pi) + (1/2) log det' H
+ (d_u/2) log(2 pi sigma^2) + |u*|^2 / (2 sigma^2) - log(2 pi |W*|_F) - log M - log V_n``

- ``r``: rank of the Hessian ``H`` of ``L`` over the pinned coordinates ``u`` (``d_u`` of them:
  everything but the dead columns), ``det'`` the product of its non-zero eigenvalues;
- ``2 pi |W*|_F``: length of the O(2) orbit through ``w*`` (the one flat pinned direction);
- ``M = c! / (k sigma! d!)``: number of disjoint orbit circles (feature relabellings that no
  rotation or reflection undoes);
- ``V_n = E_prior[exp(-n (L(u*, v) - L*)); v in the phase's region]``: the dead columns' ``(W_i,
  b_i)`` are flat while they stay silent, so their contribution is a prior volume, computed here
  by Monte Carlo over the region the classifier assigns to the phase (``|W_i| < PRESENT_NORM``,
  ``b_i <= 0``) with the exact population loss, so that the soft edges of the flat region count
  at finite ``n``.

At inverse temperature ``beta`` (posterior ``phi(w) exp(-n beta L_n(w))``) every ``n`` above is
the effective sample size ``n beta`` (:func:`comparisons.theory.free_energy.effective_sample_size`),
so Laplace crossings scale as ``n_cr(beta) = n_cr(1) / beta`` too.

Phases on non-C^2 walls (the 4-gon family) have no Gaussian approximation here: their value is
NaN. This refinement is ours, not the paper's; the tests check the orbit count and length and
the flat volume against direct computations.
"""

from __future__ import annotations

__all__ = ["LAPLACE_WINDOW", "LaplaceTerms", "laplace_terms", "laplace_free_energy", "laplace_crossing",
           "laplace_crossings"]

import math
from dataclasses import dataclass
from collections.abc import Callable, Sequence

import numpy as np
from scipy import optimize

from ..errors import InputError, check_positive_float
from .classify import PRESENT_NORM
from .free_energy import check_beta, effective_sample_size
from .kgons import RANK_TOL, Phase, hessian
from .potential import population_loss
from .streams import root_rng


@dataclass(frozen=True)
class LaplaceTerms:
    """The n-independent pieces of the Laplace free energy of one phase (see module docstring)."""

    label: str
    rank: int
    half_log_det: float
    pinned_dims: int
    pinned_norm2: float
    orbit_length: float
    multiplicity: float
    dead: tuple[int, ...]


def _dead_columns(p: Phase) -> tuple[int, ...]:
    return tuple(i for i in range(p.c) if np.linalg.norm(p.W[:, i]) < 1e-12 and p.b[i] < 0)


def laplace_terms(p: Phase) -> LaplaceTerms | None:
    """Hessian, orbit and multiplicity terms of phase ``p``; None on a non-C^2 wall."""
    if p.on_wall or p.phi:
        return None
    c = p.c
    dead = _dead_columns(p)
    H, _ = hessian(p.W, p.b)
    keep = [r * c + i for r in range(2) for i in range(c) if i not in dead] + \
           [2 * c + i for i in range(c) if i not in dead]
    ev = np.linalg.eigvalsh(H[np.ix_(keep, keep)])
    pos = ev[ev > RANK_TOL]
    live = [i for i in range(c) if i not in dead]
    norm2 = float(np.sum(p.W[:, live] ** 2) + np.sum(p.b[live] ** 2))
    d = len(dead)
    mult = math.factorial(c) / (p.k * math.factorial(p.sigma) * math.factorial(d))
    return LaplaceTerms(p.label, int(pos.size), float(0.5 * np.sum(np.log(pos))), len(keep), norm2,
                        float(2 * np.pi * np.linalg.norm(p.W)), mult, dead)


def _volume_losses(p: Phase, dead: tuple[int, ...], sigma: float, samples: int,
                   rng: np.random.Generator) -> np.ndarray | None:
    """The Monte Carlo draws of ``V_n`` (:func:`_flat_volume`): ``L - L(p)`` at the samples of the dead
    columns that stay in the region (None without dead columns: ``V_n = 1``)."""
    if not dead:
        return None
    W = np.broadcast_to(p.W, (samples,) + p.W.shape).copy()
    b = np.broadcast_to(p.b, (samples, p.c)).copy()
    W[:, :, dead] = sigma * rng.normal(size=(samples, 2, len(dead)))
    b[:, dead] = sigma * rng.normal(size=(samples, len(dead)))
    inside = np.all(b[:, dead] <= 0, axis=1) & np.all(np.linalg.norm(W[:, :, dead], axis=1) < PRESENT_NORM, axis=1)
    return population_loss(W[inside], b[inside]) - p.loss


def _volume(dL: np.ndarray | None, n: np.ndarray, samples: int) -> np.ndarray:
    """``V_n`` for each n from the draws of :func:`_volume_losses`."""
    if dL is None:
        return np.ones_like(n)
    return np.array([np.sum(np.exp(-nn * dL)) / samples for nn in n])


def _flat_volume(p: Phase, dead: tuple[int, ...], n: np.ndarray, sigma: float, samples: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``V_n`` for each n (common random numbers across n, so the result is smooth in n)."""
    return _volume(_volume_losses(p, dead, sigma, samples, rng), n, samples)


def laplace_free_energy(phases: Sequence[Phase], n, prior_sigma: float = 1.0, samples: int = 200_000,
                        seed: int | np.random.Generator = 0, beta: float = 1.0) -> np.ndarray:
    """``-log Z_alpha(n)`` of each phase with its O(1) terms; NaN for phases on walls.

    Parameters
    ----------
    phases : sequence of Phase
    n : float or array_like, shape (m,)
    prior_sigma : float
    samples : int
        Monte Carlo samples of the dead columns for the flat volume ``V_n``.
    seed : int or Generator
        The same seed gives the same values (common random numbers across ``n``).
    beta : float
        Inverse temperature (> 0): the terms are evaluated at the effective sample size ``n beta``.

    Returns
    -------
    ndarray, shape (len(phases), m)

    Examples
    --------
    >>> from comparisons.theory import enumerate_phases
    >>> p = [q for q in enumerate_phases(6) if q.label in ("5", "6", "4")]
    >>> F = laplace_free_energy(p, [200.0, 400.0], samples=20_000)
    >>> F.shape, bool(np.isnan(F[[q.label for q in p].index("4")]).all())
    ((3, 2), True)
    """
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if np.any(~(n > 0)):
        raise InputError(f"n: expected positive sample sizes, got {n[~(n > 0)][:3].tolist()}")
    return _free_energy_of(phases, prior_sigma, samples, seed)(effective_sample_size(n, beta))


def _free_energy_of(phases: Sequence[Phase], prior_sigma: float, samples: int, seed) -> Callable:
    """``m -> -log Z_alpha(m)`` of :func:`laplace_free_energy` at effective sample sizes ``m``
    (an array), with the n-independent terms and the Monte Carlo draws of ``V_n`` computed once:
    a root search (:func:`laplace_crossing`) evaluates it many times."""
    prior_sigma = check_positive_float("prior_sigma", prior_sigma)
    if samples < 1000:
        raise InputError(f"samples: expected at least 1000 Monte Carlo samples, got {samples}")
    parts = []
    for p in phases:
        t = laplace_terms(p)
        # the same stream for every phase: common random numbers
        parts.append(None if t is None else (p, t, _volume_losses(p, t.dead, prior_sigma, samples, root_rng(seed))))

    def free_energy(n: np.ndarray) -> np.ndarray:
        out = np.full((len(parts), n.size), np.nan)
        for j, part in enumerate(parts):
            if part is None:
                continue
            p, t, dL = part
            V = _volume(dL, n, samples)
            s2 = prior_sigma**2
            out[j] = (n * p.loss + 0.5 * t.rank * np.log(n / (2 * np.pi)) + t.half_log_det
                      + 0.5 * t.pinned_dims * np.log(2 * np.pi * s2) + t.pinned_norm2 / (2 * s2)
                      - np.log(t.orbit_length) - np.log(t.multiplicity) - np.log(V))
        return out

    return free_energy


#: default window of effective sample sizes ``n beta`` searched by :func:`laplace_crossing`; below
#: about 20 the posterior is not concentrated enough for the Laplace terms to mean anything
LAPLACE_WINDOW = (20.0, 1e4)


def laplace_crossings(a: Phase, b: Phase, n_min: float | None = None, n_max: float | None = None,
                      prior_sigma: float = 1.0, samples: int = 200_000, seed: int = 0,
                      beta: float = 1.0) -> list[dict]:
    """Every ``n`` in ``[n_min, n_max]`` where the Laplace free energies of ``a`` and ``b`` cross, in order.

    Two phases can cross more than once: ``F_a - F_b`` is ``n beta dL + d_lambda log n`` plus terms
    of order one (and the flat volume's, which move slowly with ``n``). At c = 8 (beta = 1) the
    hexagon leads the pentagon below n = 37, the pentagon from 37 to 193, and the hexagon again
    from 193 on; the switch a study sees as ``5 -> 6`` is the second.

    Parameters
    ----------
    a, b : Phase
    n_min, n_max : float, optional
        Window in sample sizes ``n``. Defaults: the effective sizes :data:`LAPLACE_WINDOW`, i.e.
        ``n`` in ``[20 / beta, 1e4 / beta]`` (the validity of the Laplace terms is a matter of
        ``n beta``), so that the default crossings scale exactly as ``1 / beta``.
    prior_sigma : float
    samples, seed : int
        Monte Carlo of the flat volume (:func:`laplace_free_energy`).
    beta : float
        Inverse temperature (> 0).

    Returns
    -------
    list of dict
        ``{"from": label, "to": label, "n": float}`` per crossing, increasing in ``n``: ``to`` has
        the lower free energy just above ``n``. The search runs in the effective sample size
        ``m = n beta`` (80 geometric points, then a root bracket) and returns ``m / beta``. Empty
        when they do not cross there or a phase has no Laplace value (wall).
    """
    beta = check_beta(beta)
    m_min = LAPLACE_WINDOW[0] if n_min is None else effective_sample_size(n_min, beta)
    m_max = LAPLACE_WINDOW[1] if n_max is None else effective_sample_size(n_max, beta)
    if not (0 < m_min < m_max and math.isfinite(m_max)):
        raise InputError(f"n range: expected 0 < n_min < n_max < inf, got [{n_min}, {n_max}]")
    grid = np.geomspace(m_min, m_max, 80)
    free_energy = _free_energy_of([a, b], prior_sigma, samples, seed)  # at effective sizes (beta = 1)
    F = free_energy(grid)
    if np.isnan(F).any():
        return []
    d = F[0] - F[1]

    def g(x: float) -> float:
        f = free_energy(np.atleast_1d(np.asarray(x, dtype=float)))
        return float(f[0, 0] - f[1, 0])

    out = []
    for i in np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)[0]:
        first, second = (a, b) if d[i] < 0 else (b, a)  # d = F_a - F_b < 0 below: a leads there
        m = optimize.brentq(g, grid[i], grid[i + 1], xtol=1e-3 * beta)
        out.append({"from": first.label, "to": second.label, "n": float(m / beta)})
    return out


def laplace_crossing(a: Phase, b: Phase, n_min: float | None = None, n_max: float | None = None,
                     prior_sigma: float = 1.0, samples: int = 200_000, seed: int = 0,
                     beta: float = 1.0) -> float | None:
    """Smallest ``n`` in ``[n_min, n_max]`` where ``b`` takes over from ``a``: the Laplace free
    energy of ``b`` falls below that of ``a`` (the prediction for a switch ``a -> b``).

    Directed: a crossing the other way (``a`` taking over from ``b``) is not it. At c = 8 the
    pentagon and the hexagon cross twice (:func:`laplace_crossings`), and the ``5 -> 6`` switch is
    predicted at 193, not at 37, where ``6 -> 5``. Arguments as :func:`laplace_crossings`.

    Returns
    -------
    float or None
        None when ``b`` does not take over from ``a`` in the window, or a phase has no Laplace
        value (wall).
    """
    hits = [e["n"] for e in laplace_crossings(a, b, n_min, n_max, prior_sigma, samples, seed, beta)
            if e["to"] == b.label]
    return hits[0] if hits else None
