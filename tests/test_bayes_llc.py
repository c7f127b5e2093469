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

FAST = dict(chains=2, draws=1000, warmup=500, backend="pymc", cores=1)


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
    est = nuts_llc(p.W, p.b, x, gamma=10.0, chains=2, draws=100, warmup=100, seed=0, backend="pymc",
                   cores=1)
    assert est.n == 500 and np.isclose(est.nbeta, 500 / np.log(500))
    assert np.isfinite(est.llc) and np.isfinite(est.se) and est.ess > 0
    assert est.trace.shape == (2, 100)
    assert set(est.to_dict()) >= {"llc", "se", "ess", "n", "nbeta", "gamma", "divergences", "warmup", "target_accept"}
    assert (est.warmup, est.target_accept) == (100, 0.9)  # the settings that shaped the draws are recorded


@pytest.mark.parametrize("kwargs, match", [
    (dict(gamma=0.0), "gamma: expected a finite number > 0"),
    (dict(gamma=-1.0), "gamma: expected a finite number > 0"),
    (dict(draws=0), "draws: expected an integer >= 1"),
    (dict(chains=0), "chains: expected an integer >= 1"),
    (dict(backend="stan"), "backend: expected one of auto, pymc, nutpie"),
    (dict(nbeta=float("nan")), "nbeta: expected a finite number > 0"),
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
                   warmup=1000, seed=0)
    assert abs(est.llc - p.llc) < 4 * est.se + 0.05 * p.llc, (est.llc, est.se)


# -- basin restriction ----------------------------------------------------------------------------

def _phase6(label):
    return next(q for q in enumerate_phases(6) if q.label == label)


def test_basin_roles_and_membership():
    from bayes_tms.llc import ROLE_DEAD, ROLE_FIRING, ROLE_PLUS, basin_roles, in_basin

    five, plus = _phase6("5"), _phase6("5+")
    assert list(basin_roles(five.W, five.b)) == [ROLE_FIRING] * 5 + [ROLE_DEAD]
    assert list(basin_roles(plus.W, plus.b)) == [ROLE_FIRING] * 5 + [ROLE_PLUS]
    roles = basin_roles(five.W, five.b)
    assert in_basin(five.W, five.b, roles)
    W, b = five.W.copy(), five.b.copy()
    W[:, 5] = [0.4, 0.0]  # half-alive: |W_j|^2 + b_j = 0.16 - 0.25 < 0, still dead
    assert in_basin(W, b, roles)
    b[5] = -0.1  # now fires for its own feature: outside (the classifier would still say "absent")
    assert not in_basin(W, b, roles)
    assert not in_basin(plus.W, plus.b, roles)  # b_j > 0: the 5+ is outside the basin of 5
    # batched
    Wb = np.stack([five.W, W]); bb = np.stack([five.b, b])
    assert in_basin(Wb, bb, roles).tolist() == [True, False]


def test_basin_logp_is_minus_inf_outside():
    import pytensor
    import pytensor.tensor as pt

    from bayes_tms.llc.basin import basin_logp, basin_roles

    five = _phase6("5")
    W, b = pt.matrix("W"), pt.vector("b")
    f = pytensor.function([W, b], basin_logp(W, b, basin_roles(five.W, five.b)))
    assert f(five.W, five.b) == 0.0
    bad_b = five.b.copy(); bad_b[5] = 0.01  # dead bias turns positive (-> 5+)
    assert f(five.W, bad_b) == -np.inf
    bad_W = five.W.copy(); bad_W[:, 5] = [0.6, 0.0]  # dead column becomes present
    assert f(bad_W, five.b) == -np.inf
    bad_W = five.W.copy(); bad_W[:, 0] *= 0.3  # a polygon column collapses
    assert f(bad_W, five.b) == -np.inf


def test_restrict_resolution_and_errors():
    from bayes_tms.llc.basin import resolve_restrict

    six, five = _phase6("6"), _phase6("5")
    assert resolve_restrict("auto", six.W, six.b) == "basin"
    assert resolve_restrict("auto", five.W, five.b) == "basin"
    assert resolve_restrict(None, five.W, five.b) is None
    rng = np.random.default_rng(0)
    assert resolve_restrict("auto", rng.normal(0, 0.3, (2, 6)), np.full(6, 0.3)) is None
    with pytest.raises(InputError, match="restrict: expected one of") as exc:
        nuts_llc(five.W, five.b, sample_inputs(50, 6, 0), restrict="hull")
    assert "\n" not in str(exc.value)
    W = five.W.copy(); W[:, 5] = [0.4, 0.0]; b = five.b.copy(); b[5] = 0.0  # fires: outside
    with pytest.raises(InputError, match="restrict: expected a centre inside its own basin"):
        nuts_llc(W, b, sample_inputs(50, 6, 0), restrict="basin")


def test_basin_restriction_keeps_five_gon_chain_in_its_basin():
    """At large n beta the unrestricted localised posterior of the 5-gon (a saddle of L) leaves
    the basin (the dead column revives or its bias turns positive, towards 5+ / 6) and the
    estimate goes very negative; restricted, every draw stays in the basin. Crafted so that the
    escape is immediate: the dead bias starts at -1e-3 (same L as the 5-gon, the dead directions
    are flat), and turning it positive gains ~ n beta (L(5) - L(5+)) ~ 140 nats."""
    five = _phase6("5")
    b0 = five.b.copy()
    b0[5] = -1e-3
    x = sample_inputs(2000, 6, 0)
    kw = dict(gamma=1e3, nbeta=2e4, chains=2, draws=150, warmup=150, seed=1, backend="pymc", cores=1)
    free = nuts_llc(five.W, b0, x, restrict=None, **kw)
    assert free.restrict is None
    assert free.basin_fraction < 0.5 and free.llc < 0, (free.basin_fraction, free.llc)
    held = nuts_llc(five.W, b0, x, restrict="basin", **kw)
    assert held.restrict == "basin" and held.basin_fraction == 1.0
    assert held.llc > 0 and held.to_dict()["restrict"] == "basin"


@pytest.mark.slow
@pytest.mark.parametrize("label", ["5", "5+", "6"])
def test_restricted_nuts_llc_within_five_percent_of_theory_at_n_1e5(label):
    from comparisons.theory import enumerate_phases, sample_inputs

    p = next(q for q in enumerate_phases(6) if q.label == label)
    est = nuts_llc(p.W, p.b, sample_inputs(100_000, 6, 0), gamma=10.0, chains=6, draws=1000, warmup=1000, seed=0)
    assert est.basin_fraction == 1.0 and est.chains - est.failed_chains >= 3
    assert abs(est.llc - p.llc) < max(0.05 * p.llc, 3 * est.se)


def test_wall_rejections_are_divergences_that_end_outside_the_basin():
    from types import SimpleNamespace

    import xarray as xr

    from bayes_tms.llc.basin import basin_roles, wall_rejections
    from comparisons.theory import enumerate_phases

    six = next(p for p in enumerate_phases(6) if p.label == "6")
    roles = basin_roles(six.W, six.b)
    prepared = SimpleNamespace(shape_info=(["dW", "db"], [slice(0, 12), slice(12, 18)],
                                           [np.array([2, 6]), np.array([6])]))
    inside = np.zeros(18)                      # at w* itself
    outside = np.zeros(18)
    outside[12] = -10.0                        # b_0 far below -|W_0|^2: a firing column switched off
    blown = np.full(18, np.nan)                # a numerical blow-up, not the wall
    ends = np.stack([inside, outside, inside, blown])[None]  # (chain=1, draw=4, 18)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.array([[True, True, False, True]])),
                        "divergence_end": (("chain", "draw", "dim"), ends)})
    assert wall_rejections(prepared, stats, (six.W, six.b, roles)) == 1
    assert wall_rejections(SimpleNamespace(), stats, (six.W, six.b, roles)) == -1  # PyMC: unknown
