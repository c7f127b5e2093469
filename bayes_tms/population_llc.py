"""Learning coefficients of TMS phases measured on the exact population loss (no data noise).

Two independent measurements of the RLCT ``lambda`` of a phase ``w*`` (issue 13), both on the
same :class:`LossTarget` (loss, exact gradient, prior, basin):

1. **NUTS, tempered posterior.** ``p_m(w) ∝ phi(w) exp(-m (L(w) - L*)) 1{w in basin}`` with the
   prior ``phi = N(0, 1)`` on every parameter and ``m = n beta`` on a log grid. Then
   ``lambda(m) = E_m[m (L - L*)] = -d log Z(m) / d log m`` tends to ``lambda`` as ``m -> inf``
   (``Z(m) ~ C m^{-lambda} (log m)^{mult - 1}``). The loss enters PyMC/nutpie through a
   PyTensor ``Op`` wrapping the numpy :func:`comparisons.theory.population_loss` and
   :func:`comparisons.theory.population_loss_grad` (exact gradient); the sampler and the
   estimator are those of :mod:`bayes_tms.llc` (``_prepared``, ``_estimate``). NUTS moves in
   coordinates that map smoothly onto the basin (:data:`COORDINATES`): dead and present-off
   columns fill their flat regions up to hard edges, which in ``w`` itself ended nearly every
   trajectory (a divergence) and left the 3-- phases an ESS of 12 to 70 of 800 draws.
   Extrapolation (:func:`extrapolate`): ``lambda(m) = lambda + a m^{-1/2}``. Derivation for a
   one-sided wall ``L = x_+^2`` under the ``N(0, 1)`` prior: ``Z_x(m) = 1/2 + (1/2)(2m + 1)^{-1/2}``
   and ``E[m x_+^2] = (m/2)(2m + 1)^{-3/2} / Z_x = (2 sqrt(2m))^{-1} + O(1/m)``: a half-flat
   direction contributes 0 to ``lambda`` and ``O(m^{-1/2})`` at finite ``m``, while regular
   directions contribute ``1/2 - O(1/m)``. The 4-family sits on such walls, so the leading
   finite-``m`` correction is ``m^{-1/2}``. Its amplitude is free; where the curve does not
   resolve it, the mean is the estimate (:func:`choose_fit`). The alternative
   ``a + b / log m`` (a multiplicity > 1) is fitted too and reported (``fits``) so that the data
   can speak.
2. **Volume scaling by subset simulation** (:func:`volume_scaling`), no NUTS, no gradient:
   ``V(eps) = Prior{w in basin : L(w) - L* < eps} ~ C eps^lambda``. Particles from the prior in
   the basin; at each level the fraction ``p0`` with the lowest loss is kept (``log V`` drops by
   ``log p0``, the level ``eps_k`` is their largest loss), replicated, and moved by a
   random-walk Metropolis kernel that targets the prior restricted to ``{L - L* < eps_k}`` (proposal
   covariance: the particles' own, scaled to an acceptance near 0.25). ``lambda`` is the slope of
   ``log V`` against ``log eps`` (fitted with the same ``sqrt`` correction, ``eps ~ 1/m``); its
   SE comes from independent repeats.

A third, for checking single grid points rather than for the tables: :func:`importance_lambda`,
``E_m[m (L - L*)]`` by importance sampling from a Student-t shaped by the Hessian at ``w*`` (no
Markov chain; it needs that Hessian of full rank, so no dead columns).

Basin and gauge (:func:`tms_target`). Every column keeps the role it has at ``w*``
(:func:`bayes_tms.llc.in_basin`), with the dead role tightened to ``b_j <= dead_bias_max``
(default ``-0.1``): with a dead bias allowed up to 0 the neighbourhood of a 4-family point holds
lower-loss points (the dead column switches on once the polygon biases dip below their wall;
:func:`neighbourhood_search` finds them), so the restricted target would not be local to the
phase. Likewise a ``+`` column keeps ``|W_j| < plus_norm_max`` (default 0.15): the classifier's
``|W_j| < 0.5`` lets it grow into a partial fifth vertex, at 4+ and 4++ a point ``0.005`` below
``L*`` (found by the search at ``|W_j| = 0.5``); at 0.25 the subset simulation of 4+ still reached
``L - L* < 0`` and the search found ``-1e-4`` at ``|W_j| = 0.25`` (polygon biases ``~ -0.08``). The O(2) rotation is gauge-fixed: column 0 (a polygon vertex) lies on the positive first
axis (``W[1, 0] = 0``, ``W[0, 0] > 0``), with the Jacobian ``|W_0|`` in the prior so that the slice
carries exactly the rotation-integrated prior. The map ``(theta, slice) -> rotated point`` is a
local diffeomorphism where ``|W_0| > 0`` and ``L`` is rotation invariant, so ``V(eps)`` and the
RLCT are those of the full ``3c``-dimensional problem; the sampler no longer has to wander along
the flat rotation orbit.
"""

from __future__ import annotations

__all__ = ["LossTarget", "tms_target", "COORDINATES", "toy_target", "toy_exact_lambda", "TOYS", "nuts_lambda",
           "lambda_curve", "extrapolate", "volume_scaling", "neighbourhood_search",
           "measure_phase", "measure_phases", "choose_fit", "DEFAULT_M_GRID", "MEASURE_DEFAULTS", "FITS"]

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from comparisons.errors import InputError, check_positive_int
from comparisons.theory import child_sequence

#: progress of the measurements ("phase 4 (1 of 6)", "nuts m = 1e+05 (2 of 5)"); silent unless the
#: caller attaches a handler (``tms-phases llc --measure-phases`` prints it)
_log = logging.getLogger(__name__)

from .llc import LLCEstimate, _accept, _check_common, _estimate, _prepared, _resolve_backend, \
    _seed_sequence, basin_roles, in_basin

#: default grid of ``m = n beta`` (log spaced, 1e3 .. 1e8)
DEFAULT_M_GRID = tuple(float(v) for v in np.logspace(3, 8, 6))
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

    @property
    def d(self) -> int:
        return int(self.w0.size)


def _gaussian_prior():
    def lp(w):
        return -0.5 * np.sum(np.asarray(w) ** 2, axis=-1)

    def lp_pt(w):
        return -0.5 * (w**2).sum()

    return lp, lp_pt


# -- the known-answer toys -----------------------------------------------------------------------

#: separable toys ``L = sum_i f_i(x_i)``: name -> (list of 1-D terms, exact RLCT, derivation)
TOYS: dict[str, tuple[tuple[str, ...], float, str]] = {
    # regular: lambda = rank / 2 = 3/2 (the fourth coordinate is flat and counts 0)
    "regular": (("sq", "sq2", "sqhalf", "flat"), 1.5, "x1^2 + 2 x2^2 + x3^2/2 (+ flat x4): rank 3"),
    # walls: relu(x)^2 is flat on x < 0 (prior mass 1/2 at eps -> 0), contributes 0;
    # y^2 contributes 1/2; |z| contributes 1 (V_z(eps) = P(|z| < eps) ~ 2 phi(0) eps)
    "wall": (("relu_sq", "sq", "abs"), 1.5, "relu(x)^2 + y^2 + |z|: 0 + 1/2 + 1"),
    # the TMS walls are C^1 with a Hessian that jumps; one-sided quadratics, in the dimension of
    # 4 at c = 4 (11 after the gauge): each still contributes 1/2
    "jump": (("jump_sq",) * 11, 5.5, "sum of 11 terms x^2 (x > 0), x^2/4 (x < 0): 11 x 1/2"),
}

_TERMS: dict[str, tuple[Callable, Callable]] = {
    "sq": (lambda x: x**2, lambda x: 2 * x),
    "sq2": (lambda x: 2 * x**2, lambda x: 4 * x),
    "sqhalf": (lambda x: 0.5 * x**2, lambda x: x),
    "flat": (lambda x: 0.0 * x, lambda x: 0.0 * x),
    "relu_sq": (lambda x: np.maximum(x, 0.0) ** 2, lambda x: 2 * np.maximum(x, 0.0)),
    "abs": (lambda x: np.abs(x), lambda x: np.sign(x)),
    "jump_sq": (lambda x: np.where(x > 0, 1.0, 0.25) * x**2, lambda x: np.where(x > 0, 2.0, 0.5) * x),
}


def toy_target(name: str) -> LossTarget:
    """A separable known-answer toy (``TOYS``) at ``w* = 0`` with the ``N(0, 1)`` prior."""
    if name not in TOYS:
        raise InputError(f"toy: expected one of {', '.join(TOYS)}, got {name!r}")
    terms, exact, what = TOYS[name]
    fs = [_TERMS[t] for t in terms]
    d = len(fs)

    def loss(w):
        w = np.asarray(w, dtype=float)
        return sum(f(w[..., i]) for i, (f, _) in enumerate(fs))

    def grad(w):
        w = np.asarray(w, dtype=float)
        return np.stack([g(w[..., i]) for i, (_, g) in enumerate(fs)], axis=-1).astype(float)

    lp, lp_pt = _gaussian_prior()
    return LossTarget(name=f"toy-{name}", w0=np.zeros(d), loss=loss, grad=grad,
                      inside=lambda w: np.ones(np.shape(w)[:-1], dtype=bool), log_prior=lp,
                      log_prior_pt=lp_pt, sample_prior=lambda rng, n: rng.standard_normal((n, d)),
                      loss0=0.0, exact=exact, info={"toy": name, "loss": what})


def toy_exact_lambda(name: str, m: float) -> float:
    """Exact ``E_m[m L]`` of toy ``name`` under ``N(0,1) exp(-m L)`` (1-D quadratures per term)."""
    from scipy import integrate

    if name not in TOYS:
        raise InputError(f"toy: expected one of {', '.join(TOYS)}, got {name!r}")
    total = 0.0
    for t in TOYS[name][0]:
        f = _TERMS[t][0]
        dens = lambda x: np.exp(-0.5 * x * x - m * f(x))  # noqa: E731
        # segments resolving the scales 1/m (|x|), 1/sqrt(m) (x^2) and 1 (prior)
        cuts = sorted({0.0, 1.0 / m, 10.0 / m, 1.0 / math.sqrt(m), 10.0 / math.sqrt(m), 1.0, 12.0})
        edges = [-v for v in cuts[::-1]] + cuts[1:]
        z = e = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            z += integrate.quad(dens, lo, hi, limit=200, epsabs=0, epsrel=1e-10)[0]
            e += integrate.quad(lambda x: m * f(x) * dens(x), lo, hi, limit=200, epsabs=0,
                                epsrel=1e-10)[0]
        total += e / z
    return float(total)


# -- TMS target ----------------------------------------------------------------------------------

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
    from .llc import ROLE_FIRING, ROLE_PLUS

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

            cols, lm = _reject(None, rng, n, 10**8, inside=ok, sample=draw)
            W[:, :, j], b[:, j] = cols[:, :2], cols[:, 2]
            log_mass += lm
        return pack(W, b), log_mass

    coords, z0 = _role_coordinates(W0, b0, roles, keep, dead_bias_max)
    w0 = pack(W0, b0)
    key = name or f"tms-c{c}-" + "".join(map(str, roles)) + f"-{dead_bias_max:g}-{plus_norm_max:g}"  # noqa: E501
    return LossTarget(name=key, w0=w0, loss=loss, grad=grad, inside=inside, log_prior=log_prior,
                      log_prior_pt=log_prior_pt, sample_prior=sample_prior,
                      loss0=float(population_loss(W0, b0)), exact=exact, sample_region=sample_region,
                      info={"c": c, "dead_bias_max": dead_bias_max,
                      "plus_norm_max": plus_norm_max if plus.any() else None, "gauge": "W[1,0]=0, W[0,0]>0",
                            "roles": roles.tolist(), "prior": "N(0,1) on (W, b)",
                            "nuts_coordinates": COORDINATES},
                      coords=coords, z0=z0)


#: how NUTS parametrizes the basin of a TMS phase (recorded; a curve sampled otherwise is not reused)
COORDINATES = ("role coordinates: dead column W = R u / sqrt(1 + |u|^2), b = -max(-dead_bias_max, |W|^2) "
               "- exp(s); present-off column W = (R + exp(r)) (cos t, sin t), b = -|W|^2 - exp(s); "
               "R = PRESENT_NORM; other columns identity")


def _role_coordinates(W0: np.ndarray, b0: np.ndarray, roles: np.ndarray, keep: np.ndarray,
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

    from .llc import ROLE_DEAD, ROLE_OFF

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


# -- the PyTensor op -----------------------------------------------------------------------------

def _loss_op(target: LossTarget):
    """A PyTensor Op ``w -> (L(w), dL/dw)`` calling the target's numpy loss and exact gradient.

    Outside ``target.inside`` the loss is ``+inf`` (log density ``-inf``: NUTS ends the trajectory
    there, counted as a divergence). Python ``perform`` only; nutpie runs it in numba object mode.
    """
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_not_implemented
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class TargetLoss(Op):
        __props__ = ("key",)

        def __init__(self, key: str):
            self.key = key

        def make_node(self, w):
            w = pt.as_tensor_variable(w).astype("float64")
            return Apply(self, [w], [pt.scalar(dtype="float64"), w.type()])

        def perform(self, node, inputs, output_storage):
            (w,) = inputs
            if bool(target.inside(w)):
                output_storage[0][0] = np.asarray(float(target.loss(w)))
                output_storage[1][0] = np.asarray(target.grad(w), dtype=float)
            else:
                output_storage[0][0] = np.asarray(np.inf)
                output_storage[1][0] = np.zeros_like(w)

        def infer_shape(self, fgraph, node, shapes):
            return [(), shapes[0]]

        def grad(self, inputs, output_grads):
            gz, gg = output_grads
            if not isinstance(gg.type, DisconnectedType):
                return [grad_not_implemented(self, 0, inputs[0], "second derivatives")]
            _, g = self(*inputs)
            return [gz * g]

    return TargetLoss(target.name)


def _target_model(target: LossTarget):
    """PyMC model of ``phi(w) exp(-m (L(w) - L*))`` on the allowed region; in ``target.coords`` (else ``u = w - w*``)."""
    import pymc as pm

    import pytensor.tensor as pt

    op = _loss_op(target)
    with pm.Model() as model:
        nbeta = pm.Data("nbeta", np.asarray(1.0))
        if target.coords is None:
            u = pm.Flat("u", shape=target.d, initval=np.zeros(target.d))
            w = target.w0 + u
        else:
            z = pm.Flat("z", shape=target.d, initval=np.asarray(target.z0, dtype=float))
            w, log_jac = target.coords(z, pt)
            pm.Potential("jacobian", pt.as_tensor_variable(log_jac))
        loss, _ = op(w)
        loss = pm.Deterministic("loss", loss)
        pm.Potential("prior", target.log_prior_pt(w))
        pm.Potential("loglik", -nbeta * (loss - target.loss0))
    return model


def nuts_lambda(target: LossTarget, m: float, *, chains: int = 2, draws: int = 500, tune: int = 500,
                seed: int | np.random.SeedSequence = 0, backend: str = "pymc", cores: int = 1,
                target_accept: float = 0.9, progress: bool = False) -> LLCEstimate:
    """``lambda(m) = E_m[m (L - L*)]`` by NUTS on ``phi(w) exp(-m (L - L*))`` over the allowed region.

    Parameters
    ----------
    target : LossTarget
    m : float
        Inverse temperature ``n beta`` (> 0).
    chains, draws, tune : int
        NUTS chains (each started at ``w*``), kept draws, warm-up steps per chain.
    seed : int or numpy.random.SeedSequence
    backend : {"pymc", "nutpie", "auto"}
        PyMC by default (the Python op runs in numba object mode under nutpie, no faster).
    cores : int
        Parallel chains.
    target_accept : float
    progress : bool

    Returns
    -------
    LLCEstimate
        ``llc = m (E[L] - L*)`` and its ESS-based ``se``; ``n = 0``, ``gamma = 1`` (the prior's
        precision about 0, not a localisation about ``w*``).
    """
    from .llc import _positive_float

    m = _positive_float("m", m)
    _, chains, draws, tune = _check_common(1.0, chains, draws, tune)
    backend = _resolve_backend(backend)
    data = {"nbeta": np.asarray(m)}
    prepared = _prepared(("population", target.name, backend, target.d), lambda: _target_model(target),
                         backend, data)
    return _estimate(prepared, backend, n=0, nbeta=m, gamma=1.0, loss_at_center=target.loss0,
                     chains=chains, draws=draws, tune=tune, ss=_seed_sequence(seed), progress=progress,
                     target_accept=_accept(target_accept), cores=cores)


#: how a measurement's streams derive from its root seed (recorded in every record; a stored
#: record made under another rule is never reused)
SEED_RULE = ("comparisons.theory.streams: NUTS grid point i child_sequence(seed, 'llc', 'population', "
             "target.name, 'nuts', i); volume repeat j child_rng(seed, ..., 'volume', j); "
             "neighbourhood search child_rng(seed, ..., 'search')")


#: the streams of the top-up rounds (:func:`measure_phase`'s ``rse_target``), recorded with them
TOP_UP_RULE = ("top-up round 1, grid point i: child_sequence(seed, 'llc', 'population', target.name, 'nuts', "
               "'top-up', i); round k > 1: the same with 'top-up-k'")
#: one top-up round draws at most this many times the first pass's draws
TOP_UP_MAX = 4
#: at most this many top-up rounds (each sized from the pooled fit of the passes before it)
TOP_UP_ROUNDS = 3


def _top_up_stream(k: int) -> tuple[str, str]:
    """The stream of top-up round ``k`` (1-based): :data:`TOP_UP_RULE`."""
    return ("nuts", "top-up" if k == 1 else f"top-up-{k}")


def _pool(first: list[dict], more: list[dict], d1: int, d2: int) -> list[dict]:
    """Per grid point, two independent passes of ``d1`` and ``d2`` draws per chain as one.

    Weights are the draw counts, fixed in advance (never the estimated SEs, which grow with the
    estimate: :func:`extrapolate`).
    """
    w1, w2 = d1 / (d1 + d2), d2 / (d1 + d2)
    return [{"m": a["m"], "llc": w1 * a["llc"] + w2 * b["llc"], "se": math.hypot(w1 * a["se"], w2 * b["se"]),
             "ess": a["ess"] + b["ess"], "divergences": a["divergences"] + b["divergences"],
             "failed_chains": a["failed_chains"] + b["failed_chains"], "wall_s": a["wall_s"] + b["wall_s"]}
            for a, b in zip(first, more)]


def _top_up_draws(fit: dict, draws: int, rse_target: float, cap: int | None = None) -> int:
    """Draws per chain of one more pass that brings the relative SE of ``fit`` (made from ``draws``
    draws per chain so far) to ``0.9 rse_target`` (SE ~ draws^-1/2), rounded up to a multiple of
    50 and capped at ``cap`` (default ``TOP_UP_MAX * draws``); 0 where the target is met.

    The fit keeps scatter that the rule does not model (the extrapolation's ``sqrt(chi2/dof)``), so
    one round can land just above the target: :func:`measure_phase` then sizes another.
    """
    rse = fit["se"] / abs(fit["llc"]) if fit["llc"] else math.inf
    if rse <= rse_target:
        return 0
    need = draws * ((rse / (0.9 * rse_target)) ** 2 - 1.0)
    return int(min(TOP_UP_MAX * draws if cap is None else cap, 50 * math.ceil(need / 50)))


def _stream(seed: int, target: LossTarget, *part: str | int) -> np.random.SeedSequence:
    return child_sequence(seed, "llc", "population", target.name, *part)


def lambda_curve(target: LossTarget, ms: Sequence[float] = DEFAULT_M_GRID, *, seed: int = 0,
                 stream: tuple[str, ...] = ("nuts",), **kwargs) -> list[dict]:
    """:func:`nuts_lambda` at every ``m`` (grid point ``i`` on the stream ``(..., *stream, i)``;
    the default is the one of :data:`SEED_RULE`, the top-up pass uses :data:`TOP_UP_RULE`'s).

    Returns
    -------
    list of dict
        ``{m, llc, se, ess, divergences, failed_chains, wall_s}`` per ``m``.
    """
    rows = []
    for i, m in enumerate(ms):
        _log.info("method nuts, grid point m = %g (%d of %d)", m, i + 1, len(ms))
        t0 = time.perf_counter()
        est = nuts_lambda(target, m, seed=_stream(seed, target, *stream, i), **kwargs)
        rows.append({"m": float(m), "llc": est.llc, "se": est.se, "ess": est.ess,
                     "divergences": est.divergences, "failed_chains": est.failed_chains,
                     "wall_s": time.perf_counter() - t0})
    return rows


# -- extrapolation -------------------------------------------------------------------------------

#: correction shapes of the extrapolation: name -> basis function of m (``None``: no correction)
FITS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
    "inv_sqrt": lambda m: m ** -0.5,
    "inv_log": lambda m: 1.0 / np.log(m),
    "const": None,
}


def extrapolate(ms, lam, se, form: str = "inv_sqrt") -> dict:
    """Least squares ``lambda(m) = lambda + a g(m)``; ``g = m^{-1/2}``, ``1/log m`` or 0.

    Every grid point weighs the same (ordinary least squares); ``se`` enters only the standard
    errors. Weighting by ``1 / se^2`` biases the fit low: each ``se`` is an estimate of its own
    (``sd / sqrt(ESS)`` from a few hundred draws) and it grows with the estimate (``m (L - L*)`` is
    skewed to the right, so a chain that reached the tail raises both), which gives the low points
    the large weights. On the 3-- phases of c = 5 and 6 the weighted fit put lambda at 0.81 and
    0.86, where the plain mean of the same points gives 0.95 and 0.97 and the volume method 0.98
    and 0.97.

    Parameters
    ----------
    ms, lam, se : array_like, shape (k,)
        Grid, estimates and their standard errors (k >= 3).
    form : {"inv_sqrt", "inv_log", "const"}
        ``"const"`` fits ``lambda`` alone (the mean; ``slope`` 0, ``slope_se`` 0).

    Returns
    -------
    dict
        ``{form, llc, se, slope, slope_se, chi2_dof}``. The covariance of the coefficients is the
        one the ``se`` imply, ``(X'X)^-1 X' diag(se^2) X (X'X)^-1``, inflated by
        ``sqrt(chi2/dof)`` (``chi2 = sum(residual^2 / se^2)``) when the points scatter more than
        their error bars say.
    """
    if form not in FITS:
        raise InputError(f"form: expected one of {', '.join(FITS)}, got {form!r}")
    ms, lam, se = (np.asarray(v, dtype=float) for v in (ms, lam, se))
    ok = np.isfinite(lam) & np.isfinite(se) & (se > 0)
    if ok.sum() < 3:
        raise InputError(f"lambda(m): expected at least 3 finite estimates, got {int(ok.sum())}")
    ms, lam, se = ms[ok], lam[ok], se[ok]
    basis = FITS[form]
    X = np.ones((len(ms), 1)) if basis is None else np.stack([np.ones_like(ms), basis(ms)], axis=1)
    pinv = np.linalg.pinv(X)  # (p, k): beta = pinv @ lam
    beta = pinv @ lam
    cov = pinv @ np.diag(se**2) @ pinv.T
    chi2 = float(np.sum((lam - X @ beta) ** 2 / se**2))
    dof = len(lam) - X.shape[1]
    infl = max(1.0, math.sqrt(chi2 / dof)) if dof > 0 else 1.0
    slope, slope_se = (0.0, 0.0) if basis is None else (float(beta[1]), float(math.sqrt(cov[1, 1]) * infl))
    return {"form": form, "llc": float(beta[0]), "se": float(math.sqrt(cov[0, 0]) * infl),
            "slope": slope, "slope_se": slope_se, "chi2_dof": chi2 / dof if dof > 0 else float("nan")}


def choose_fit(fits: dict) -> dict:
    """The extrapolation the data support: ``inv_sqrt`` where its slope is resolved, else ``const``.

    The ``m^{-1/2}`` correction is the leading finite-``m`` term (module docstring), but its
    amplitude is a free parameter: fitted where the curve does not resolve it (``|slope| <= 2
    slope_se``), it only adds variance (the intercept's SE about doubles, and on the grid
    ``1e4 .. 1e8`` the fit put the 6-gon at 8.33 +- 0.09 where every point lies within 1.3 SE of
    8.5). Then the nested model, the mean (``const``), is the estimate; its bias is at
    most ``|slope| m_min^{-1/2}``, below the SE by that same criterion.

    Parameters
    ----------
    fits : dict
        ``form -> extrapolate(...)`` with at least ``inv_sqrt`` and ``const``.

    Returns
    -------
    dict
        One of the two fits.
    """
    f = fits["inv_sqrt"]
    return f if abs(f["slope"]) > 2 * f["slope_se"] else fits["const"]


# -- method 2: volume scaling by subset simulation -----------------------------------------------

def volume_scaling(target: LossTarget, *, particles: int = 1000, p0: float = 0.5, mh_steps: int = 15,
                   eps_min: float = 1e-7, eps_fit: tuple[float, float] = (1e-7, 1e-4),
                   rng: np.random.Generator | int = 0, max_levels: int = 400,
                   max_init_draws: int = 10_000_000) -> dict:
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
        Range of ``eps`` over which ``log V = c + lambda log eps + a sqrt(eps)`` is fitted.
    rng : numpy.random.Generator or int
    max_levels, max_init_draws : int
        Safety limits.

    Returns
    -------
    dict
        ``eps`` (levels), ``log_v`` (``log V(eps_k) = k log p0 + log P0`` with ``P0`` the prior mass
        of the allowed region), ``llc`` (fitted slope), ``acceptance`` (mean per level).
    """
    rng = np.random.default_rng(rng)
    particles = check_positive_int("particles", particles, minimum=20)
    if not 0 < p0 < 1:
        raise InputError(f"p0: expected a number in (0, 1), got {p0}")
    if target.sample_region is not None:
        x, log_p_allowed = target.sample_region(rng, particles)
    else:
        x, log_p_allowed = _reject(target, rng, particles, max_init_draws)
    f = target.loss(x) - target.loss0
    lp = target.log_prior(x)
    scale = 0.5
    eps_levels, log_v, acc_levels = [], [], []
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
        if eps < eps_min:  # also stops at a level <= 0 (a point below L*)
            break
    eps_levels, log_v = np.array(eps_levels), np.array(log_v)
    # a level at or below 0 means the region holds points below L*: the restriction is not local
    fit = _volume_fit(eps_levels, log_v, eps_fit) if eps_levels.min() > 0 else float("nan")
    return {"eps": eps_levels.tolist(), "log_v": log_v.tolist(), "acceptance": acc_levels,
            "llc": fit, "particles": particles, "p0": p0, "mh_steps": mh_steps,
            "eps_fit": list(eps_fit)}


def importance_lambda(target: LossTarget, m: float, *, samples: int = 1_000_000, scale: float = 2.0,
                      dof: float = 5.0, rng: np.random.Generator | int = 0, chunk: int = 100_000) -> dict:
    """``lambda(m) = E_m[m (L - L*)]`` by self-normalised importance sampling: no Markov chain.

    A third method beside :func:`nuts_lambda` and :func:`volume_scaling`, for checking one grid
    point. The proposal is a multivariate Student-t (``dof``) centred at ``w*`` with covariance
    ``scale^2 (m H)^-1``, ``H`` the symmetrised central-difference Hessian of the target's loss at
    ``w*`` (:func:`comparisons.theory.hessian_from_gradient`; on a wall the mean of the one-sided
    Hessians); the weights carry the prior and the basin (``inside``). It needs ``H`` of full rank:
    a flat direction (a dead column, a flat toy coordinate) leaves the proposal without scale.

    Parameters
    ----------
    target : LossTarget
    m : float
        Inverse temperature ``n beta`` (> 0).
    samples : int
        Proposal draws (rounded down to a multiple of ``chunk``, at least one chunk).
    scale, dof : float
        Proposal width relative to the Laplace approximation, and its tail (heavier tails and a
        wider scale are safer on walls, where the posterior is not Gaussian).
    rng : numpy.random.Generator or int

    Returns
    -------
    dict
        ``llc``, ``se`` (delta method; optimistic when a few weights dominate, so compare two
        ``scale``), ``ess`` (``1 / sum w^2`` of the normalised weights), ``samples``.
    """
    from comparisons.theory import hessian_from_gradient

    from .llc import _positive_float

    m = _positive_float("m", m)
    samples, chunk = check_positive_int("samples", samples), check_positive_int("chunk", chunk)
    scale, dof = _positive_float("scale", scale), _positive_float("dof", dof)
    rng = np.random.default_rng(rng)
    H, _ = hessian_from_gradient(target.grad, target.w0)
    ev = np.linalg.eigvalsh(H)
    if ev[0] <= 1e-8 * max(ev[-1], 1e-300):
        raise InputError(f"target {target.name}: expected a Hessian of full rank at w* for importance sampling, "
                         f"got a flat direction (smallest eigenvalue {ev[0]:.3g})")
    chol = np.linalg.cholesky(np.linalg.inv(m * H)) * scale
    d, w0 = target.d, target.w0
    log_w, y = [], []
    for _ in range(max(1, samples // chunk)):
        z = rng.standard_normal((chunk, d))
        g = rng.chisquare(dof, size=chunk) / dof
        v = w0 + (z / np.sqrt(g)[:, None]) @ chol.T
        log_q = -0.5 * (dof + d) * np.log1p(np.sum(z * z, axis=1) / g / dof)  # up to a constant
        inside = target.inside(v)
        v = np.where(inside[:, None], v, w0)
        f = target.loss(v) - target.loss0
        log_w.append(np.where(inside, -m * f + target.log_prior(v) - log_q, -np.inf))
        y.append(np.where(inside, m * f, 0.0))
    lw, y = np.concatenate(log_w), np.concatenate(y)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    est = float(np.sum(w * y))
    return {"llc": est, "se": float(np.sqrt(np.sum(w * w * (y - est) ** 2))), "ess": float(1.0 / np.sum(w * w)),
            "samples": int(len(y))}


def _reject(target: LossTarget, rng: np.random.Generator, n: int, max_draws: int,
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


def _volume_fit(eps: np.ndarray, log_v: np.ndarray, eps_fit: tuple[float, float]) -> float:
    """Slope ``lambda`` of ``log V = c + lambda log eps + a sqrt(eps)`` over ``eps_fit``."""
    sel = (eps >= eps_fit[0]) & (eps <= eps_fit[1]) & (eps > 0)
    if sel.sum() < 4:
        return float("nan")
    X = np.stack([np.ones(sel.sum()), np.log(eps[sel]), np.sqrt(eps[sel])], axis=1)
    beta = np.linalg.lstsq(X, log_v[sel], rcond=None)[0]
    return float(beta[1])


# -- the neighbourhood check ---------------------------------------------------------------------

def neighbourhood_search(target: LossTarget, *, starts: int = 200, radii: Sequence[float] = (0.01, 0.05, 0.2),
                         iters: int = 300, rng: np.random.Generator | int = 0) -> dict:
    """Look for points of the allowed region with lower loss than ``w*`` (feasible gradient descent).

    Starts ``w* + r z`` (``z ~ N(0, I)``, ``r`` cycling over ``radii``; starts outside the region
    are redrawn), then steepest descent on ``L`` with the exact gradient and a per-start step that
    halves on any step leaving the region or not decreasing ``L`` (grows by 1.5 otherwise), so
    every iterate stays allowed. A lower point means the restriction is not local to the phase.

    Returns
    -------
    dict
        ``min_excess`` (least ``L - L*`` reached), ``argmin`` (that point, shape (d,)),
        ``starts``, ``radii``, ``iters`` (the settings) and ``valid_starts`` (the starts that lay
        in the region after 100 redraws, the ones descended from).
    """
    rng = np.random.default_rng(rng)
    starts = check_positive_int("starts", starts)
    r = np.asarray(radii, dtype=float)[np.arange(starts) % len(radii)]
    x = target.w0 + r[:, None] * rng.standard_normal((starts, target.d))
    for _ in range(100):
        bad = ~target.inside(x)
        if not bad.any():
            break
        x[bad] = target.w0 + r[bad, None] * rng.standard_normal((int(bad.sum()), target.d))
    x = x[target.inside(x)]
    f = target.loss(x)
    step = np.full(len(x), 0.1)
    for _ in range(iters):
        g = target.grad(x)
        prop = x - step[:, None] * g
        ok = target.inside(prop)
        fp = np.where(ok, target.loss(np.where(ok[:, None], prop, x)), np.inf)
        acc = ok & (fp < f)
        x[acc], f[acc] = prop[acc], fp[acc]
        step = np.where(acc, step * 1.5, step * 0.5)
        step = np.maximum(step, 1e-12)
    i = int(np.argmin(f))
    return {"min_excess": float(f[i] - target.loss0), "argmin": x[i].tolist(), "starts": starts,
            "valid_starts": int(len(x)), "radii": [float(v) for v in radii], "iters": iters}


# -- the table -----------------------------------------------------------------------------------

def measure_phase(target: LossTarget, *, ms: Sequence[float] = DEFAULT_M_GRID, seed: int = 0,
                  nuts: dict | None = None, volume: dict | None = None, volume_repeats: int = 3,
                  search: dict | None = None, rse_target: float | None = None,
                  reuse: dict | None = None) -> dict:
    """Both measurements of one target plus the neighbourhood check; a JSON-ready record.

    ``rse_target``: where the NUTS fit's relative SE exceeds it, another pass at every grid point
    (streams of :data:`TOP_UP_RULE`, draws from :func:`_top_up_draws`) is pooled with the passes
    before it (:func:`_pool`, by draw counts) and the fit redone on the pooled ``curve``; up to
    :data:`TOP_UP_ROUNDS` rounds, each sized from the pooled fit. Recorded as ``top_up``:
    ``rounds`` (``draws`` and ``curve`` of each), ``draws`` (their sum; 0: not needed),
    ``first_curve`` and ``first_fit``. Low coefficients need it: the SE of ``m (L - L*)`` falls only
    as ``sqrt(lambda)``, so at 3-- (lambda near 1) the first pass leaves about 3.5%, against about
    1% on the 4-family.

    ``nuts``/``volume``/``search``: keyword arguments of :func:`nuts_lambda`,
    :func:`volume_scaling` and :func:`neighbourhood_search`. Seeds: the named streams of
    :data:`SEED_RULE` (NUTS grid point ``i``, volume repeat ``j``, the search).
    ``reuse``: an earlier record of the same target and seed; each part (search, NUTS curve,
    volume) whose settings are unchanged is taken from it instead of recomputed (listed in
    ``reused``), so that changing one part's settings recomputes only that part.
    """
    t0 = time.perf_counter()
    ms = tuple(float(m) for m in ms)
    nuts = dict(nuts or {})
    volume = dict(volume or {})
    search = dict(search or {})
    r = reuse if reuse is not None and reuse.get("seed") == seed and reuse.get("seed_rule") == SEED_RULE else {}
    reused = []
    search_key = _jsonable({"starts": search.get("starts", 200), "radii": search.get("radii", (0.01, 0.05, 0.2)),
                            "iters": search.get("iters", 300)})
    old_search = r.get("neighbourhood", {})
    if "valid_starts" in old_search and {k: old_search.get(k) for k in search_key} == search_key:
        search_res = old_search
        reused.append("search")
    else:
        _log.info("neighbourhood search")
        search_res = neighbourhood_search(target, rng=np.random.default_rng(_stream(seed, target, "search")), **search)
    same_coords = r.get("settings", {}).get("nuts_coordinates") == target.info.get("nuts_coordinates")
    if r.get("curve") and r.get("m_grid") == list(ms) and r.get("settings", {}).get("nuts") == _jsonable(nuts) \
            and same_coords:
        curve = r["top_up"]["first_curve"] if r.get("top_up", {}).get("rounds") else r["curve"]
        reused.append("nuts")
    else:
        curve = lambda_curve(target, ms, seed=seed, **nuts)
    def fit_all(curve):
        lam, se = [c["llc"] for c in curve], [c["se"] for c in curve]
        return {form: extrapolate(ms, lam, se, form) for form in FITS}

    fits = fit_all(curve)
    top_up = {"draws": 0, "rse_target": rse_target, "rounds": []}
    base = int(nuts.get("draws", 500))
    first_fit, first_curve, pooled = choose_fit(fits), curve, base
    old_rounds = r.get("top_up", {}).get("rounds", []) if "nuts" in reused else []
    for k in range(1, TOP_UP_ROUNDS + 1):
        extra = 0 if rse_target is None else _top_up_draws(choose_fit(fits), pooled, float(rse_target),
                                                           cap=TOP_UP_MAX * base)
        if not extra:
            break
        old = old_rounds[k - 1] if len(old_rounds) >= k else {}
        if old.get("draws") == extra and old.get("curve"):
            more = old["curve"]
            reused.append(f"top_up_{k}")
        else:
            old_rounds = []  # a round redone changes every later round's size
            more = lambda_curve(target, ms, seed=seed, stream=_top_up_stream(k), **{**nuts, "draws": extra})
        top_up["rounds"].append({"draws": extra, "curve": more})
        curve = _pool(curve, more, pooled, extra)
        pooled += extra
        fits = fit_all(curve)
    if top_up["rounds"]:
        top_up.update(draws=pooled - base, rule=TOP_UP_RULE, first_curve=first_curve, first_fit=first_fit)
    vol_key = _jsonable({"particles": volume.get("particles", 1000), "p0": volume.get("p0", 0.5),
                         "mh_steps": volume.get("mh_steps", 15), "eps_fit": volume.get("eps_fit", (1e-7, 1e-4)),
                         "eps_min": volume.get("eps_min", 1e-7)})
    old_vol = r.get("volume_settings", {})
    if old_vol == vol_key and len(r.get("volume_runs", ())) == volume_repeats:
        v = np.array(r["volume_runs"], dtype=float)
        vol_curve = r["volume_curve"]
        reused.append("volume")
    else:
        vols = []
        for j in range(volume_repeats):
            _log.info("method volume scaling, repeat %d of %d", j + 1, volume_repeats)
            vols.append(volume_scaling(target, rng=np.random.default_rng(_stream(seed, target, "volume", j)),
                                       **volume))
        v = np.array([x["llc"] for x in vols])
        vol_curve = {"eps": vols[0]["eps"], "log_v": vols[0]["log_v"]}
    vol_llc = float(np.mean(v))
    vol_se = float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    best = choose_fit(fits)
    return {"llc_measured": best["llc"], "llc_se": best["se"], "method": "nuts-population-extrapolated",
            "fit": best, "fits": fits, "curve": curve, "m_grid": list(ms), "top_up": top_up,
            "volume_llc": vol_llc, "volume_se": vol_se, "volume_runs": v.tolist(),
            "volume_settings": vol_key, "volume_curve": vol_curve,
            "neighbourhood": {k: search_res[k] for k in ("min_excess", "starts", "valid_starts", "radii", "iters")},
            "settings": {"nuts": _jsonable(nuts), "rse_target": rse_target, **target.info},
            "exact": target.exact, "seed": seed, "seed_rule": SEED_RULE, "reused": reused, "wall_s": time.perf_counter() - t0}


#: settings of the shipped tables (``comparisons/theory/data/llc_measured_c*.json``)
MEASURE_DEFAULTS: dict = {
    "ms": (1e4, 1e5, 1e6, 1e7, 1e8),
    "nuts": {"chains": 2, "draws": 400, "tune": 300},
    # 60 Metropolis steps per level: with 15 the slope came out ~2% low on the 6-gon (8.33 against
    # 8.5; 60 steps: 8.49, 8.67) and 7.29 against 7.41 on the 4-gon (insufficient mixing within a level)
    "volume": {"particles": 1000, "p0": 0.5, "mh_steps": 60, "eps_min": 1e-7, "eps_fit": (1e-7, 1e-4)},
    "volume_repeats": 3,
    "search": {"starts": 200, "iters": 300, "radii": (0.01, 0.05, 0.2, 0.5)},
    # the target for the wall phases; reached by a top-up pass where the first falls short
    "rse_target": 0.03,
}


def measure_phases(c: int, labels: Sequence[str], *, seed: int = 0, reuse: dict | None = None,
                   **settings) -> Iterator[dict]:
    """:func:`measure_phase` for the phases ``labels`` of ``enumerate_phases(c)``, one record each.

    Parameters
    ----------
    c : int
        Features.
    labels : sequence of str
        Phase labels (measured in this order).
    seed : int
        Root seed (the same for every phase: each phase's runs use ``[seed, ...]``).
    reuse : dict, optional
        ``label -> record`` of an earlier table; a record measured on the same target and seed is
        passed to :func:`measure_phase` as its ``reuse`` (resume: parts with unchanged settings are
        kept).
    **settings
        Override :data:`MEASURE_DEFAULTS` (``ms``, ``nuts``, ``volume``, ``volume_repeats``, ``search``,
        ``rse_target``).

    Yields
    ------
    dict
        Per phase, in the order of ``labels``: ``phase``, ``c``, ``llc_exact``, ``llc_bound`` and the
        record of :func:`measure_phase` (JSON-ready). A generator, so that the caller can store each
        record as it comes.
    """
    from comparisons.theory import enumerate_phases

    unknown = set(settings) - set(MEASURE_DEFAULTS)
    if unknown:
        raise InputError(f"settings: expected keys among {', '.join(MEASURE_DEFAULTS)}, got {', '.join(sorted(unknown))}")
    settings = {**MEASURE_DEFAULTS, **settings}
    phases = {p.label: p for p in enumerate_phases(c)}
    missing = [lab for lab in labels if lab not in phases]
    if missing:
        raise InputError(f"labels: expected phases of c = {c} ({', '.join(phases)}), got {', '.join(missing)}")
    reuse = reuse or {}
    for k, lab in enumerate(labels):
        _log.info("phase %s (%d of %d)", lab, k + 1, len(labels))
        p = phases[lab]
        target = tms_target(p.W, p.b, exact=p.llc)
        old = reuse.get(lab)
        old = old if old is not None and _same_target(old, target) else None
        rec = measure_phase(target, seed=seed, reuse=old, **settings)
        yield _jsonable({"phase": lab, "c": c, "llc_exact": p.llc, "llc_bound": p.llc_bound, **rec})


def _same_target(rec: dict, target: LossTarget) -> bool:
    """Whether a stored record was measured on ``target`` (its ``info``; None entries ignored).

    ``nuts_coordinates`` is left to :func:`measure_phase`: it concerns the NUTS curve alone, and
    the search and the volume runs of another parametrization are still reused."""
    stored = rec.get("settings", {})
    return all(stored.get(k) == v for k, v in _jsonable(target.info).items()
               if v is not None and k != "nuts_coordinates")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
