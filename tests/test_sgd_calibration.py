"""SGLD-LLC calibration: known answers, MALA acceptance, loss-trace diagnostics, the sweep."""

import math

import numpy as np
import pytest
import torch

from comparisons.errors import InputError
from comparisons.theory import enumerate_phases, sample_inputs
from sgd_tms import LLCConfig, sgld_llc
from sgd_known_models import normal_crossing_model, quadratic_model
from sgd_tms.calibration import STEP_NBETA, calibration_sweep, recommended_config, sgld_point_llc


def _cfg(step, chains=32, draws=3000, warmup=500, gamma=1.0):
    return LLCConfig(step_size=step, gamma=gamma, chains=chains, draws=draws, warmup=warmup,
                     dtype="float64")


def test_regular_quadratic_recovers_half_dimension():
    m = quadratic_model(4)
    n = 20_000  # n beta ~ 2019: curvature 2 n beta ~ 4000, epsilon * curvature = 0.02
    est = sgld_point_llc(m.W0, m.b0, None, _cfg(5e-6), loss_and_grad=m.loss_and_grad, n=n, seed=1)
    exact = m.expected(est.nbeta, 1.0)
    assert abs(exact - m.llc) < 1e-3  # d/2 up to gamma / (2 n beta)
    # ULA variance inflation 1 / (1 - epsilon k / 4) ~ 0.5 %
    assert abs(est.llc - exact) < 3 * est.se + 0.01 * exact, (est.llc, est.se, exact)
    assert est.below_fraction == 0 and est.escaped == 0 and est.nonfinite == 0
    assert est.accept > 0.99


def test_normal_crossing_recovers_quarter():
    m = normal_crossing_model(1, 2)  # w1^2 w2^4: lambda = 1/4, multiplicity 1
    assert m.llc == 0.25
    gamma = 10.0
    n = 7_000  # n beta ~ 790
    est = sgld_point_llc(m.W0, m.b0, None, _cfg(2e-4, chains=64, draws=5000, warmup=1000, gamma=gamma),
                         loss_and_grad=m.loss_and_grad, n=n, seed=2)
    exact = m.expected(est.nbeta, gamma)
    assert abs(est.llc - exact) < 3 * est.se + 0.03 * exact, (est.llc, est.se, exact)
    # the estimator's target approaches 1/4 from below as n beta grows (slowly: t^(-1/4))
    assert exact < m.expected(1e6, gamma) < m.llc
    assert m.llc - m.expected(1e6, gamma) < 0.5 * (m.llc - exact)


def test_mala_acceptance_near_one_for_tiny_steps_and_falls_for_large():
    m = quadratic_model(4)
    acc = []
    for step in (1e-6, 1e-4, 5e-4, 1.5e-3):  # epsilon * curvature 0.004 .. 6 at n beta ~ 1000
        est = sgld_point_llc(m.W0, m.b0, None, _cfg(step, chains=8, draws=600, warmup=100),
                             loss_and_grad=m.loss_and_grad, n=8000, seed=0)
        acc.append(est.accept)
    assert acc[0] > 0.999
    assert all(a > b for a, b in zip(acc, acc[1:])), acc
    assert acc[-1] < 0.8


def test_diagnostics_leave_the_trajectory_unchanged():
    m = quadratic_model(3)
    W = torch.zeros(1, 4, 1, 3, dtype=torch.float64)
    b = torch.zeros(1, 4, 0, dtype=torch.float64)
    cfg = _cfg(1e-4, chains=4, draws=200, warmup=50)
    r0 = sgld_llc(W, b, None, cfg, torch.Generator().manual_seed(3), loss_and_grad=m.loss_and_grad, n=1000)
    r1 = sgld_llc(W, b, None, cfg, torch.Generator().manual_seed(3), loss_and_grad=m.loss_and_grad, n=1000,
                  diagnostics=True)
    np.testing.assert_array_equal(r0["loss_trace"].values, r1["loss_trace"].values)
    np.testing.assert_array_equal(r0["llc"].values, r1["llc"].values)
    assert "accept" not in r0 and r1["accept"].dims == ("point", "chain") and r1["max_distance"].shape == (1, 4)


def test_distance_matches_the_gaussian_width():
    m = quadratic_model(6)
    n = 2000
    est = sgld_point_llc(m.W0, m.b0, None, _cfg(2e-5, chains=16, draws=3000, warmup=1000),
                         loss_and_grad=m.loss_and_grad, n=n, seed=4)
    sd = 1 / math.sqrt(2 * est.nbeta + 1)  # per coordinate
    expected = sd * math.sqrt(2) * math.gamma(3.5) / math.gamma(3)  # mean of a chi with 6 dof
    assert abs(est.distance - expected) < 0.05 * expected
    assert est.max_distance > est.distance


def test_escape_when_the_centre_is_not_a_minimum():
    # L = w1 (a slope): the chain slides downhill, nearly every draw lies below L(w*)
    def slope(W, b):
        return W[..., 0, 0], (torch.zeros_like(W).index_fill_(-1, torch.tensor([0]), 1.0),
                              torch.zeros_like(b))

    est = sgld_point_llc(np.zeros((1, 2)), np.zeros(0), None, _cfg(1e-4, chains=4, draws=400, warmup=100),
                         loss_and_grad=slope, n=1000, seed=0)
    assert est.below_fraction > 0.9 and est.escaped == 4 and math.isnan(est.llc)
    # a minimum never has draws below its start
    m = quadratic_model(2)
    ok = sgld_point_llc(m.W0, m.b0, None, _cfg(1e-4, chains=4, draws=400, warmup=100),
                        loss_and_grad=m.loss_and_grad, n=1000, seed=0)
    assert ok.below_fraction == 0 and ok.escaped == 0 and math.isfinite(ok.llc)


def test_nonfinite_chains_are_flagged_not_raised():
    m = quadratic_model(2)
    est = sgld_point_llc(m.W0, m.b0, None, _cfg(1.0, chains=4, draws=400, warmup=100),
                         loss_and_grad=m.loss_and_grad, n=10_000, seed=0)
    assert est.nonfinite == 4 and math.isnan(est.llc)


def test_recommended_config_scales_with_nbeta():
    cfg = recommended_config(10_000)
    assert cfg.step_size * 10_000 / math.log(10_000) == pytest.approx(STEP_NBETA)
    assert cfg.dtype == "float64" and cfg.warmup < cfg.draws
    with pytest.raises(InputError, match="n: expected an integer >= 2"):
        recommended_config(1)


def test_tms_point_estimate_and_sweep_are_labelled():
    p = enumerate_phases(6)[0]
    x = sample_inputs(2000, 6, 0)
    base = recommended_config(2000, chains=4, draws=300, warmup=100)
    est = sgld_point_llc(p.W, p.b, x, base)
    assert est.trace.dims == ("chain", "draw") and est.trace.shape == (4, 300)
    assert 0 < est.accept <= 1 and est.distance > 0 and np.isfinite(est.llc)
    assert set(est.to_dict()) >= {"llc", "se", "accept", "below_fraction", "distance"}
    ds = calibration_sweep(p.W, p.b, x, [1e-4, 1e-3], [1.0, 10.0], reference={1.0: 8.5, 10.0: 8.0},
                           config=base)
    assert ds["llc"].dims == ("step_size", "gamma") and ds["bias"].shape == (2, 2)
    np.testing.assert_allclose(ds["bias"].sel(gamma=10.0), ds["llc"].sel(gamma=10.0) - 8.0)
    assert (ds["accept"].sel(gamma=1.0)[0] >= ds["accept"].sel(gamma=1.0)[1]).item()


def test_bad_inputs_raise_input_error():
    p = enumerate_phases(6)[0]
    with pytest.raises(InputError, match="x: expected"):
        sgld_point_llc(p.W, p.b, None)
    with pytest.raises(InputError, match="x: expected 6 features"):
        sgld_point_llc(p.W, p.b, np.zeros((10, 5)))
    with pytest.raises(InputError, match="step_size: expected a finite number > 0"):
        LLCConfig(step_size=0.0)
    with pytest.raises(InputError, match="reference: expected a value for every gamma"):
        calibration_sweep(p.W, p.b, sample_inputs(100, 6, 0), [1e-4], [1.0, 2.0], reference={1.0: 8.5},
                          config=recommended_config(100, chains=2, draws=20, warmup=5))


@pytest.mark.slow
def test_hexagon_at_large_n_within_five_percent_of_theory():
    p = next(q for q in enumerate_phases(6) if q.label == "6")
    est = sgld_point_llc(p.W, p.b, sample_inputs(100_000, 6, 0), recommended_config(100_000))
    assert abs(est.llc - p.llc) < 0.05 * p.llc + 2 * est.se, (est.llc, est.se)
    assert est.accept > 0.98 and est.below_fraction < 0.05
