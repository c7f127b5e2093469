"""NUTS-LLC (bayes_tms.llc): known coefficients of closed-form models, TMS smoke run, bad inputs.

Known answers:
- regular quadratic ``K(w) = |w|^2`` in d = 3: ``lambda = d/2``; with localisation ``gamma`` the
  estimator's exact expectation is ``(d/2) nbeta / (nbeta + gamma/2)`` (Gaussian integral).
- quasi-homogeneous ``K(w) = w1^2 + w2^4``: ``lambda = 1/2 + 1/4 = 3/4`` with multiplicity 1
  (``∫ exp(-t K) dw ∝ t^{-3/4}`` exactly under a flat prior, so the estimator has no slow
  ``log log`` or power corrections; the Gaussian localisation adds ``O(gamma / sqrt(nbeta))``).
  The product normal crossing ``w1^2 w2^4`` (also ``lambda = 1/4``, m = 1) converges like
  ``nbeta^{-1/4}`` (next pole 1/2), too slowly for a fast test.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_tms import LLCEstimate, loss_llc, nuts_llc
from comparisons.errors import InputError
from comparisons.theory import enumerate_phases, sample_inputs

FAST = dict(chains=2, draws=1000, tune=500, backend="pymc", cores=1)


def test_regular_quadratic_recovers_d_over_2():
    d, n, gamma = 3, 1000, 1.0
    est = loss_llc(lambda w: (w**2).sum(), np.zeros(d), n=n, gamma=gamma, seed=3, name="quad3", **FAST)
    nb = n / np.log(n)
    exact = d / 2 * nb / (nb + gamma / 2)
    assert isinstance(est, LLCEstimate)
    assert est.trace.dims == ("chain", "draw") and est.trace.shape == (2, 1000)
    assert est.ess > 300 and est.se < 0.06
    assert abs(est.llc - exact) < 4 * est.se
    assert abs(est.llc - d / 2) < 4 * est.se + 0.01 * d / 2


def test_degenerate_quasi_homogeneous_recovers_three_quarters():
    est = loss_llc(lambda w: w[0] ** 2 + w[1] ** 4, np.zeros(2), n=1000, nbeta=1e4, gamma=1.0,
                   seed=5, name="w1sq_w2four", **FAST)
    assert est.nbeta == 1e4
    assert abs(est.llc - 0.75) < 4 * est.se + 0.02, (est.llc, est.se)
    assert abs(est.llc - 1.0) > 4 * est.se  # distinguishable from the regular d/2


def test_nuts_llc_tms_smoke():
    p = next(q for q in enumerate_phases(4) if q.label == "4")
    x = sample_inputs(500, 4, 0)
    est = nuts_llc(p.W, p.b, x, gamma=10.0, chains=2, draws=100, tune=100, seed=0, backend="pymc",
                   cores=1)
    assert est.n == 500 and np.isclose(est.nbeta, 500 / np.log(500))
    assert np.isfinite(est.llc) and np.isfinite(est.se) and est.ess > 0
    assert est.trace.shape == (2, 100)
    assert set(est.to_dict()) >= {"llc", "se", "ess", "n", "nbeta", "gamma", "divergences"}


@pytest.mark.parametrize("kwargs, match", [
    (dict(gamma=0.0), "gamma: expected a positive number"),
    (dict(gamma=-1.0), "gamma: expected a positive number"),
    (dict(draws=0), "draws: expected an integer >= 1"),
    (dict(chains=0), "chains: expected an integer >= 1"),
    (dict(backend="stan"), "backend: expected one of auto, pymc, nutpie"),
    (dict(nbeta=float("nan")), "nbeta: expected a positive number"),
])
def test_bad_inputs_one_line(kwargs, match):
    p = next(q for q in enumerate_phases(4) if q.label == "4")
    with pytest.raises(InputError, match=match) as exc:
        nuts_llc(p.W, p.b, sample_inputs(50, 4, 0), **kwargs)
    assert "\n" not in str(exc.value)


def test_bad_centre_and_data():
    p = next(q for q in enumerate_phases(4) if q.label == "4")
    W = p.W.copy()
    W[0, 0] = np.nan
    with pytest.raises(InputError, match="W0: expected finite values"):
        nuts_llc(W, p.b, sample_inputs(50, 4, 0))
    with pytest.raises(InputError, match="n \\(rows of x\\): expected an integer >= 2"):
        nuts_llc(p.W, p.b, sample_inputs(1, 4, 0))
    with pytest.raises(InputError, match="x: expected 4 features"):
        nuts_llc(p.W, p.b, sample_inputs(50, 5, 0))
    with pytest.raises(InputError, match="n: expected an integer >= 2"):
        loss_llc(lambda w: (w**2).sum(), np.zeros(2), n=1)


@pytest.mark.slow
def test_six_gon_llc_close_to_theory():
    p = next(q for q in enumerate_phases(6) if q.label == "6")
    est = nuts_llc(p.W, p.b, sample_inputs(10_000, 6, 0), gamma=10.0, chains=4, draws=1000,
                   tune=1000, seed=0)
    assert abs(est.llc - p.llc) < 4 * est.se + 0.05 * p.llc, (est.llc, est.se)
