"""Known-answer toys for the population-loss LLC methods (PyMC's ``tests/models.py`` pattern).

Separable losses ``L = sum_i f_i(x_i)`` at ``w* = 0`` under the ``N(0, 1)`` prior, with their exact
RLCT and an exact finite-``m`` value of ``E_m[m L]`` (1-D quadratures per term): regular, with
one-sided walls, and with a Hessian that jumps across each wall as the TMS walls do.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from bayes_tms.llc import LossTarget
from comparisons.errors import InputError


def _gaussian_prior():
    def lp(w):
        return -0.5 * np.sum(np.asarray(w) ** 2, axis=-1)

    def lp_pt(w):
        return -0.5 * (w**2).sum()

    return lp, lp_pt


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
