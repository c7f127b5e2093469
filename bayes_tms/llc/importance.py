"""A third check of single grid points: ``E_m[m (L - L*)]`` by self-normalised importance sampling.

The proposal is a Student-t centred at ``w*`` with covariance ``scale^2 (m H)^-1`` from the Hessian
``H`` at ``w*`` (no Markov chain). It needs that Hessian of full rank, so phases with dead columns
are refused.
"""

from __future__ import annotations

__all__ = ["importance_lambda"]


import numpy as np

from comparisons.errors import InputError, check_positive_float, check_positive_int

from .target import LossTarget


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


    m = check_positive_float("m", m)
    samples, chunk = check_positive_int("samples", samples), check_positive_int("chunk", chunk)
    scale, dof = check_positive_float("scale", scale), check_positive_float("dof", dof)
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
