"""SMC as an occupancy estimator: particle fractions with intervals over independent runs."""

import numpy as np
import pytest

from bayes_tms.smc import particle_occupancy
from comparisons.errors import InputError

# the known-mode-mass toy of the replica-exchange tests: n L_n(w) = n (w^2 - 1)^2 + TILT * S_n w
from test_bayes_pt import SIGMA, TILT, _toy_mass


def test_smc_recovers_known_mode_masses_within_k_se():
    """SMC tempering from the prior to the posterior at one rung of the toy: P(w > 0) by quadrature."""
    import pymc as pm

    from bayes_tms.smc import smc_model_evidence

    y = np.random.default_rng(4).normal(size=64)
    n = 32
    exact = float(_toy_mass((n,), y)[0])
    assert 0.6 < exact < 0.95  # unequal modes: the test has teeth
    S = float(np.sum(y[:n]))
    with pm.Model() as model:
        w = pm.Normal("w", 0.0, SIGMA)
        pm.Potential("loglik", -n * (w**2 - 1) ** 2 - TILT * S * w)
    _, idata, _ = smc_model_evidence(model, particles=300, runs=8, seed=3, mutation_steps=10)
    draws = idata.posterior["w"].transpose("chain", "draw").values
    rows = by_phase(particle_occupancy(np.where(draws > 0, "+", "-"), n))
    plus = rows["+"]
    assert plus["runs"] == 8 and plus["particles"] == int((draws > 0).sum())
    assert abs(plus["fraction"] - exact) <= 4 * plus["se"] + 0.01, (plus, exact)
    assert plus["lower"] <= exact <= plus["upper"] or abs(plus["fraction"] - exact) <= 0.01
    assert rows["+"]["fraction"] + rows["-"]["fraction"] == pytest.approx(1.0)


def by_phase(occ):
    """``{phase: {variable: value}}`` of a one-``n`` SMC occupancy hand-off, with ``n`` and ``runs``."""
    one = occ.isel(estimator=0, n=0)
    return {str(p): {"n": int(one["n"]), "runs": int(one["runs"]),
                     **{k: one[k].sel(phase=p).item() for k in ("fraction", "lower", "upper", "se", "particles")}}
            for p in one["phase"].values}


def test_particle_occupancy_interval_is_over_runs():
    from scipy import stats

    labels = np.array([["a"] * 8 + ["b"] * 2, ["a"] * 6 + ["b"] * 4, ["a"] * 10])  # runs: 0.8, 0.6, 1.0
    rows = by_phase(particle_occupancy(labels, 50))
    a = rows["a"]
    assert a["fraction"] == pytest.approx(0.8) and a["n"] == 50 and a["particles"] == 24
    se = np.std([0.8, 0.6, 1.0], ddof=1) / np.sqrt(3)
    assert a["se"] == pytest.approx(se)
    q = stats.t.ppf(0.975, 2)
    assert a["lower"] == pytest.approx(0.8 - q * se) and a["upper"] == 1.0  # clipped to [0, 1]
    # runs that agree exactly: the multinomial floor keeps the interval open
    same = by_phase(particle_occupancy(np.array([["a", "b"] * 5] * 2), 10))
    assert same["a"]["se"] == pytest.approx(np.sqrt(0.25 / 20))
    one = by_phase(particle_occupancy(np.array([["a", "b"]]), 10))  # one run: no interval
    assert all(np.isnan(r["lower"]) and np.isnan(r["se"]) for r in one.values())
    with pytest.raises(InputError, match="labels: expected"):
        particle_occupancy(np.array(["a", "b"]), 10)
