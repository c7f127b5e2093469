"""The population-loss target of a phase: loss, exact gradient, prior and allowed region.

A :class:`LossTarget` is what every population-loss LLC method samples or integrates
(:mod:`~bayes_tms.llc.tempered`, :mod:`~bayes_tms.llc.volume`, :mod:`~bayes_tms.llc.importance`).
:func:`tms_target` builds it for a TMS phase: restricted to the basin of ``w*`` (dead biases at or
below ``DEAD_BIAS_MAX``, ``+`` columns shorter than ``PLUS_NORM_MAX``), gauge-fixed (column 0 on the
positive first axis, with its Jacobian in the prior), and with coordinates that map smoothly onto
the basin for NUTS (:data:`COORDINATES`). The reasons for each choice are in the docs (*LLC methods*).
"""

from __future__ import annotations

__all__ = ["DEAD_BIAS_MAX", "PLUS_NORM_MAX", "COORDINATES", "LossTarget", "tms_target", "role_coordinates", "reject_sample"]

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from comparisons.errors import InputError

from .basin import ROLE_DEAD, ROLE_FIRING, ROLE_OFF, ROLE_PLUS, basin_roles, in_basin


#: default tightening of the dead role: ``b_j <= DEAD_BIAS_MAX``
DEAD_BIAS_MAX = -0.1


#: default tightening of the ``+`` role: ``|W_j| < PLUS_NORM_MAX`` (the classifier allows 0.5)
PLUS_NORM_MAX = 0.15


@dataclass(frozen=True, eq=False)
class LossTarget:
    """A loss with its exact gradient, prior and allowed region, on a flat parameter vector.

    Attributes
    ----------
    name : str
        Key of the compiled-model cache (one per distinct loss).
    w0 : ndarray, shape (d,)
        The point ``w*`` (chains start there).
    loss : callable
        ``loss(w[..., d]) -> ndarray (...)``: batched numpy loss (``+inf`` is never returned; use
        ``inside``).
    grad : callable
        ``grad(w[..., d]) -> ndarray (..., d)``: batched exact gradient of ``loss``.
    inside : callable
        ``inside(w[..., d]) -> bool ndarray (...)``: the allowed region (basin and gauge).
    log_prior : callable
        Batched numpy log prior density (up to a constant), ``(..., d) -> (...)``.
    log_prior_pt : callable
        The same as a PyTensor expression of a vector.
    sample_prior : callable
        ``sample_prior(rng, n) -> ndarray (n, d)`` draws from the prior (unrestricted).
    loss0 : float
        ``L(w*)``.
    exact : float or None
        Known RLCT (toys and C^2 phases), for reports.
    sample_region : callable or None
        ``sample_region(rng, n) -> (w[n, d], log_mass)``: exact draws from the prior restricted
        to ``inside`` and the log prior mass of that region; None: rejection from ``sample_prior``.
    info : dict
        Settings recorded with the measurement (basin margin, gauge...).
    coords : callable or None
        ``coords(z, xp) -> (w, log_jac)``: NUTS's coordinates ``z`` (shape (d,)) mapped onto the
        allowed region, with the log Jacobian; ``xp`` is ``numpy`` or ``pytensor.tensor``. None:
        NUTS samples ``w`` itself. A bijection onto the region turns its hard edges, which
        end every NUTS trajectory that reaches them (a divergence), into smooth tails.
    z0 : ndarray or None
        ``coords``' preimage of ``w0`` (where the chains start).
    unpack : callable or None
        ``unpack(v) -> (W (..., 2, c), b (..., c))``: the model's parameters of flat vectors
        ``v (..., d)`` (TMS targets); None for targets that are not a TMS model.
    """

    name: str
    w0: np.ndarray
    loss: Callable
    grad: Callable
    inside: Callable
    log_prior: Callable
    log_prior_pt: Callable
    sample_prior: Callable
    loss0: float
    exact: float | None = None
    sample_region: Callable | None = None
    info: dict = field(default_factory=dict)
    coords: Callable | None = None
    z0: np.ndarray | None = None
    unpack: Callable | None = None

    @property
    def d(self) -> int:
        return int(self.w0.size)


def tms_target(W0, b0, *, dead_bias_max: float = DEAD_BIAS_MAX, plus_norm_max: float = PLUS_NORM_MAX,
               name: str | None = None, exact: float | None = None) -> LossTarget:
    """The population-loss target of phase ``w* = (W0, b0)``: basin-restricted, gauge-fixed.

    Parameters
    ----------
    W0 : array_like, shape (2, c)
        Phase point; column 0 must be a firing polygon vertex on the positive first axis
        (:func:`comparisons.theory.kgon_point`'s canonical representative).
    b0 : array_like, shape (c,)
    dead_bias_max : float
        Dead columns keep ``b_j <= dead_bias_max`` (<= 0; module docstring).
    plus_norm_max : float
        ``+`` columns keep ``|W_j| < plus_norm_max`` (``<= PRESENT_NORM``; module docstring);
        recorded in ``info`` only where ``w*`` has ``+`` columns (it changes nothing elsewhere).
    name : str, optional
        Cache key (default from the shape and roles).
    exact : float, optional
        Known RLCT, for reports.

    Returns
    -------
    LossTarget
        On the flat vector ``v`` of length ``3c - 1``: ``W.ravel()`` without ``W[1, 0]`` (= 0),
        then ``b``. Prior ``N(0, 1)`` on ``(W, b)`` times the Jacobian ``|W_0| = v[0]``.
    """
    from comparisons.theory import population_loss, population_loss_grad

    W0 = np.asarray(W0, dtype=float)
    b0 = np.asarray(b0, dtype=float)
    if W0.ndim != 2 or W0.shape[0] != 2 or b0.shape != (W0.shape[1],):
        raise InputError(f"w*: expected W0 of shape (2, c) and b0 of shape (c,), got {W0.shape} and {b0.shape}")
    c = W0.shape[1]
    if not (abs(W0[1, 0]) < 1e-12 and W0[0, 0] > 0):
        raise InputError("W0: expected column 0 on the positive first axis (canonical k-gon), got "
                         f"({W0[0, 0]:.3g}, {W0[1, 0]:.3g})")
    dead_bias_max = float(dead_bias_max)
    if not dead_bias_max <= 0:
        raise InputError(f"dead_bias_max: expected a number <= 0, got {dead_bias_max}")
    plus_norm_max = float(plus_norm_max)
    if not 0 < plus_norm_max <= 0.5:
        raise InputError(f"plus_norm_max: expected a number in (0, 0.5], got {plus_norm_max}")
    roles = basin_roles(W0, b0)

    if roles[0] != ROLE_FIRING:
        raise InputError("W0: expected column 0 to be a firing polygon vertex, got another role")
    keep = np.array([i for i in range(3 * c) if i != c])  # drop W[1, 0]

    def unpack(v):
        v = np.asarray(v, dtype=float)
        full = np.zeros(v.shape[:-1] + (3 * c,))
        full[..., keep] = v
        return full[..., :2 * c].reshape(v.shape[:-1] + (2, c)), full[..., 2 * c:]

    def pack(W, b):
        full = np.concatenate([W.reshape(W.shape[:-2] + (2 * c,)), b], axis=-1)
        return full[..., keep]

    def loss(v):
        W, b = unpack(v)
        return population_loss(W, b)

    def grad(v):
        W, b = unpack(v)
        gW, gb = population_loss_grad(W, b)
        return pack(gW, gb)

    plus = roles == ROLE_PLUS

    def inside(v):
        W, b = unpack(v)
        small = np.all(np.sum(W[..., :, plus] ** 2, axis=-2) < plus_norm_max**2, axis=-1)
        return in_basin(W, b, roles, dead_bias_max) & small & (np.asarray(v)[..., 0] > 0)

    def log_prior(v):
        v = np.asarray(v, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return -0.5 * np.sum(v**2, axis=-1) + np.log(np.abs(v[..., 0]))

    def log_prior_pt(v):
        import pytensor.tensor as pt

        return -0.5 * (v**2).sum() + pt.log(pt.abs(v[0]))

    def sample_prior(rng, n):
        out = rng.standard_normal((n, 3 * c - 1))
        out[:, 0] = np.sqrt(-2 * np.log1p(-rng.random(n)))  # Rayleigh(1): |W_0| with the Jacobian
        return out

    def column_ok(W, b, j):  # the role constraints of column j alone (in_basin is per column)
        ok = in_basin(W[..., :, j:j + 1], b[..., j:j + 1], roles[j:j + 1], dead_bias_max)
        if plus[j]:
            ok &= np.sum(W[..., :, j] ** 2, axis=-1) < plus_norm_max**2
        if j == 0:
            ok &= W[..., 0, 0] > 0
        return ok

    def sample_region(rng, n):
        # prior and region both factor over columns: rejection column by column
        W = np.zeros((n, 2, c))
        b = np.zeros((n, c))
        log_mass = 0.0
        for j in range(c):
            def draw(rng, m, j=j):
                cols = rng.standard_normal((m, 3))
                if j == 0:
                    cols[:, 0] = np.sqrt(-2 * np.log1p(-rng.random(m)))  # Rayleigh: Jacobian |W_0|
                    cols[:, 1] = 0.0
                return cols

            def ok(cols, j=j):
                Wj = np.zeros((len(cols), 2, c))
                bj = np.zeros((len(cols), c))
                Wj[:, :, j] = cols[:, :2]
                bj[:, j] = cols[:, 2]
                return column_ok(Wj, bj, j)

            cols, lm = reject_sample(None, rng, n, 10**8, inside=ok, sample=draw)
            W[:, :, j], b[:, j] = cols[:, :2], cols[:, 2]
            log_mass += lm
        return pack(W, b), log_mass

    coords, z0 = role_coordinates(W0, b0, roles, keep, dead_bias_max)
    w0 = pack(W0, b0)
    key = name or f"tms-c{c}-" + "".join(map(str, roles)) + f"-{dead_bias_max:g}-{plus_norm_max:g}"  # noqa: E501
    return LossTarget(name=key, w0=w0, loss=loss, grad=grad, inside=inside, log_prior=log_prior,
                      log_prior_pt=log_prior_pt, sample_prior=sample_prior,
                      loss0=float(population_loss(W0, b0)), exact=exact, sample_region=sample_region,
                      info={"c": c, "dead_bias_max": dead_bias_max,
                      "plus_norm_max": plus_norm_max if plus.any() else None, "gauge": "W[1,0]=0, W[0,0]>0",
                            "roles": roles.tolist(), "prior": "N(0,1) on (W, b)",
                            "nuts_coordinates": COORDINATES},
                      coords=coords, z0=z0, unpack=unpack)


#: how NUTS parametrizes the basin of a TMS phase (recorded; a curve sampled otherwise is not reused)
COORDINATES = ("role coordinates: dead column W = R u / sqrt(1 + |u|^2), b = -max(-dead_bias_max, |W|^2) "
               "- exp(s); present-off column W = (R + exp(r)) (cos t, sin t), b = -|W|^2 - exp(s); "
               "R = PRESENT_NORM; other columns identity")


def role_coordinates(W0: np.ndarray, b0: np.ndarray, roles: np.ndarray, keep: np.ndarray,
                      dead_bias_max: float) -> tuple[Callable, np.ndarray]:
    """NUTS coordinates on the basin of ``roles``: the map ``z -> w`` of :data:`COORDINATES` and ``z0``.

    A dead column's ``(W_j, b_j)`` and a present-off column's are flat in the loss over most of
    their region (nothing fires), so under the prior they fill it up to its edges: ``|W_j| =
    PRESENT_NORM`` (the role boundary), ``b_j = dead_bias_max`` and ``|W_j|^2 + b_j = 0`` (the
    column starts firing for its own feature; beyond it the loss falls). As hard edges these end
    nearly every NUTS trajectory: on the 3-- phases 795 of 800 transitions diverged and the ESS
    was 12 to 70 of 800 draws. The maps below are smooth bijections from ``R^3`` onto each
    column's region (the ``max`` leaves a kink, not an edge), so the posterior in ``z`` has tails
    instead of edges. Firing and ``+`` columns keep the identity: the loss holds them far from
    their edges. Returns ``(coords, z0)`` as :class:`LossTarget` wants them.
    """
    from comparisons.theory import PRESENT_NORM


    c = len(roles)
    R = float(PRESENT_NORM)
    floor = -float(dead_bias_max)
    slot = {i: k for k, i in enumerate(keep)}  # full index (W[0,:], W[1,:], b) -> position in w

    def coords(z, xp):
        def get(i):
            return z[slot[i]] if i in slot else 0.0

        full = [get(i) for i in range(3 * c)]
        log_jac = 0.0
        for j in range(c):
            a, t, s = full[j], full[c + j], full[2 * c + j]
            if roles[j] == ROLE_DEAD:
                r2 = a * a + t * t
                f = R / xp.sqrt(1.0 + r2)
                full[j], full[c + j] = f * a, f * t
                full[2 * c + j] = -xp.maximum(floor, f * f * r2) - xp.exp(s)
                log_jac = log_jac + 2.0 * math.log(R) - 2.0 * xp.log1p(r2) + s
            elif roles[j] == ROLE_OFF:
                rho = R + xp.exp(a)
                full[j], full[c + j] = rho * xp.cos(t), rho * xp.sin(t)
                full[2 * c + j] = -rho * rho - xp.exp(s)
                log_jac = log_jac + xp.log(rho) + a + s
        return xp.stack([full[i] for i in keep]), log_jac

    tiny = 1e-6  # w* on an edge: start just inside
    zfull = np.concatenate([W0.ravel(), b0]).astype(float)
    for j in range(c):
        w, norm2 = W0[:, j], float(W0[:, j] @ W0[:, j])
        if roles[j] == ROLE_DEAD:
            u = w / math.sqrt(max(R * R - norm2, tiny))
            zfull[j], zfull[c + j] = u
            zfull[2 * c + j] = math.log(max(-b0[j] - max(floor, norm2), tiny))
        elif roles[j] == ROLE_OFF:
            zfull[j] = math.log(max(math.sqrt(norm2) - R, tiny))
            zfull[c + j] = math.atan2(w[1], w[0])
            zfull[2 * c + j] = math.log(max(-b0[j] - norm2, tiny))
    return coords, zfull[keep]


def reject_sample(target: LossTarget, rng: np.random.Generator, n: int, max_draws: int,
            inside: Callable | None = None, sample: Callable | None = None) -> tuple[np.ndarray, float]:
    """``n`` draws of ``sample`` (default the prior) inside ``inside`` by rejection, and log acceptance."""
    inside = inside or target.inside
    sample = sample or target.sample_prior
    keep, drawn = [], 0
    while sum(len(k) for k in keep) < n:
        z = sample(rng, 100_000)
        drawn += len(z)
        keep.append(z[inside(z)])
        if drawn > max_draws:
            raise InputError(f"target: expected a region of prior mass above {n / drawn:.1e}, "
                             "got less (rejection sampling failed)")
    x = np.concatenate(keep)
    return x[:n], math.log(len(x) / drawn)
