"""Method 1 of the population-loss LLC: NUTS on the tempered posterior, extrapolated in ``m``.

``p_m(w) ∝ phi(w) exp(-m (L(w) - L*)) 1{w in basin}`` on a log grid of ``m = n beta``;
``lambda(m) = E_m[m (L - L*)] = -d log Z(m) / d log m`` tends to ``lambda`` as ``m -> inf``. The
curve is extrapolated as ``lambda + a m^{-1/2}`` (the leading correction of a one-sided wall) where
it resolves ``a``, else by its mean (:func:`choose_fit`); ``a + b / log m`` is fitted and reported
beside it. Where the fit misses a relative-SE target, top-up rounds of NUTS (their own seed
streams) are pooled with the passes before them. The loss enters PyMC/nutpie through a PyTensor
``Op`` wrapping the numpy population loss and its exact gradient.
"""

from __future__ import annotations

__all__ = ["DEFAULT_M_GRID", "SEED_RULE", "TOP_UP_RULE", "TOP_UP_MAX", "TOP_UP_ROUNDS", "FITS", "nuts_lambda", "lambda_curve", "extrapolate", "choose_fit", "top_up_stream", "pool_passes", "top_up_draws", "grid_stream"]

import logging
import math
import time
from typing import Callable, Sequence

import numpy as np

from comparisons.errors import InputError, check_positive_float
from comparisons.theory.streams import root_sequence
from comparisons.theory import LLCEstimate, child_sequence

from .config import check_common, check_target_accept, resolve_backend
from .localised import estimate_from_model, prepared_model
from .target import LossTarget

#: progress of the measurements (a child of ``bayes_tms.llc``: silent unless the caller attaches a
#: handler, as ``tms-phases llc --measure-phases`` does)
_log = logging.getLogger(__name__)


#: default grid of ``m = n beta`` (log spaced, 1e3 .. 1e8)
DEFAULT_M_GRID = tuple(float(v) for v in np.logspace(3, 8, 6))


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


def nuts_lambda(target: LossTarget, m: float, *, chains: int = 2, draws: int = 500, warmup: int = 500,
                seed: int | np.random.SeedSequence = 0, backend: str = "pymc", cores: int = 1,
                target_accept: float = 0.9, progress: bool = False) -> LLCEstimate:
    """``lambda(m) = E_m[m (L - L*)]`` by NUTS on ``phi(w) exp(-m (L - L*))`` over the allowed region.

    Parameters
    ----------
    target : LossTarget
    m : float
        Inverse temperature ``n beta`` (> 0).
    chains, draws, warmup : int
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

    m = check_positive_float("m", m)
    _, chains, draws, warmup = check_common(1.0, chains, draws, warmup)
    backend = resolve_backend(backend)
    data = {"nbeta": np.asarray(m)}
    prepared = prepared_model(("population", target.name, backend, target.d), lambda: _target_model(target),
                         backend, data)
    return estimate_from_model(prepared, backend, n=0, nbeta=m, gamma=1.0, loss_at_center=target.loss0,
                     chains=chains, draws=draws, warmup=warmup, ss=root_sequence(seed), progress=progress,
                     target_accept=check_target_accept(target_accept), cores=cores)


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


def top_up_stream(k: int) -> tuple[str, str]:
    """The stream of top-up round ``k`` (1-based): :data:`TOP_UP_RULE`."""
    return ("nuts", "top-up" if k == 1 else f"top-up-{k}")


def pool_passes(first: list[dict], more: list[dict], d1: int, d2: int) -> list[dict]:
    """Per grid point, two independent passes of ``d1`` and ``d2`` draws per chain as one.

    Weights are the draw counts, fixed in advance (never the estimated SEs, which grow with the
    estimate: :func:`extrapolate`).
    """
    w1, w2 = d1 / (d1 + d2), d2 / (d1 + d2)
    return [{"m": a["m"], "llc": w1 * a["llc"] + w2 * b["llc"], "se": math.hypot(w1 * a["se"], w2 * b["se"]),
             "ess": a["ess"] + b["ess"], "divergences": a["divergences"] + b["divergences"],
             "failed_chains": a["failed_chains"] + b["failed_chains"], "wall_s": a["wall_s"] + b["wall_s"]}
            for a, b in zip(first, more)]


def top_up_draws(fit: dict, draws: int, rse_target: float, cap: int | None = None) -> int:
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


def grid_stream(seed: int, target: LossTarget, *part: str | int) -> np.random.SeedSequence:
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
        est = nuts_lambda(target, m, seed=grid_stream(seed, target, *stream, i), **kwargs)
        rows.append({"m": float(m), "llc": est.llc, "se": est.se, "ess": est.ess,
                     "divergences": est.divergences, "failed_chains": est.failed_chains,
                     "wall_s": time.perf_counter() - t0})
    return rows


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
