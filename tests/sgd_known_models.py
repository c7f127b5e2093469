"""Models with a closed-form learning coefficient, in the ``(W, b)`` form SGLD takes (test fixtures).

PyMC's ``tests/models.py`` pattern: each factory returns the loss with its known answer, for the
SGLD calibration tests (``tests/test_sgd_calibration.py``).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from comparisons.errors import InputError, check_positive_int


class KnownModel(NamedTuple):
    """A loss with a closed-form learning coefficient, in the ``(W, b)`` form SGLD takes.

    Attributes
    ----------
    loss_and_grad : callable
        ``(W, b) -> (loss, (gW, gb))``; ``W`` has shape ``(..., 1, d)``, ``b`` shape ``(..., 0)``.
    W0, b0 : ndarray
        The centre ``w* = 0`` (shapes ``(1, d)`` and ``(0,)``).
    llc : float
        The learning coefficient (the ``n beta -> inf`` limit of the estimator).
    expected : callable
        ``(nbeta, gamma) -> E[n beta L]`` exactly, under the localised tempered posterior.
    """

    loss_and_grad: Callable
    W0: np.ndarray
    b0: np.ndarray
    llc: float
    expected: Callable


def quadratic_model(d: int) -> KnownModel:
    """Regular model ``L(w) = |w|^2``, ``d`` parameters: ``lambda = d/2``.

    Notes
    -----
    Under ``exp(-t |w|^2 - (gamma/2)|w|^2)`` each coordinate has variance ``1/(2t + gamma)``, so
    ``E[t L] = (d/2) 2t / (2t + gamma)``.
    """
    d = check_positive_int("d", d)

    def lg(W, b):
        return W.square().sum((-2, -1)), (2 * W, torch.zeros_like(b))

    return KnownModel(lg, np.zeros((1, d)), np.zeros(0), d / 2,
                      lambda t, gamma: d * t / (2 * t + gamma))


def normal_crossing_model(p1: int = 1, p2: int = 2) -> KnownModel:
    """Normal crossing ``L(w) = w1^(2 p1) w2^(2 p2)``: ``lambda = 1 / (2 max(p1, p2))``.

    With ``p1 != p2`` the multiplicity is 1. (``p1 = 1, p2 = 2``: ``lambda = 1/4``.)

    Notes
    -----
    ``E[t L]`` under ``exp(-t L - (gamma/2)|w|^2)`` is computed by 2-D quadrature (for ``p1 = 1``
    the inner integral is Gaussian and the result is a 1-D integral). The approach to the limit is
    slow, ``O(t^{-(1/(2 min p) - lambda)})``, so tests compare with the finite-``t`` value.
    """
    p1 = check_positive_int("p1", p1)
    p2 = check_positive_int("p2", p2)

    def lg(W, b):
        w1, w2 = W[..., 0, 0], W[..., 0, 1]
        a, c = w1 ** (2 * p1), w2 ** (2 * p2)
        g1 = 2 * p1 * w1 ** (2 * p1 - 1) * c
        g2 = 2 * p2 * w2 ** (2 * p2 - 1) * a
        return a * c, (torch.stack([g1, g2], -1).unsqueeze(-2), torch.zeros_like(b))

    def expected(t: float, gamma: float) -> float:
        from scipy import integrate

        if gamma <= 0:
            raise InputError(f"gamma: expected > 0 for a finite expectation, got {gamma!r}")
        s = 8 / math.sqrt(gamma)

        def w(u, v):
            return math.exp(-t * u ** (2 * p1) * v ** (2 * p2) - gamma * (u * u + v * v) / 2)

        num = integrate.dblquad(lambda v, u: t * u ** (2 * p1) * v ** (2 * p2) * w(u, v), 0, s, 0, s,
                                epsabs=1e-10, epsrel=1e-8)[0]
        den = integrate.dblquad(lambda v, u: w(u, v), 0, s, 0, s, epsabs=1e-10, epsrel=1e-8)[0]
        return num / den

    return KnownModel(lg, np.zeros((1, 2)), np.zeros(0), 1 / (2 * max(p1, p2)), expected)
