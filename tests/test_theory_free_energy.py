"""Free-energy crossings on cases with known answers, and the c = 6 theory."""

import dataclasses

import numpy as np
import pytest

from comparisons.errors import InputError
from comparisons.theory import (critical_sample_sizes, crossings, dominant_intervals, dominant_phase,
                                enumerate_phases, free_energy)


def fake(label, loss, llc, prior):
    base = enumerate_phases(6)[0]
    return dataclasses.replace(base, label=label, loss=loss, llc=llc, llc_bound=llc, prior_term=prior)


def test_linear_crossing_known_answer():
    a = fake("a", 0.02, 5.0, 0.0)  # same llc: n dL = dprior  ->  n = 2 / 0.01 = 200
    b = fake("b", 0.01, 5.0, 2.0)
    assert critical_sample_sizes(a, b) == [pytest.approx(200.0, rel=1e-12)]
    (e,) = crossings([a, b], n_max=1e4)
    assert (e["from"], e["to"]) == ("a", "b")


def test_crossing_with_log_term_and_two_roots():
    # choose dprior so that the root sits at a prescribed n0
    dL, dlam, n0 = 0.01, 3.0, 750.0
    dprior = -(n0 * dL + dlam * np.log(n0))
    a = fake("a", 0.05 + dL, 5.0 + dlam, 1.0 + dprior)
    b = fake("b", 0.05, 5.0, 1.0)
    roots = critical_sample_sizes(a, b, n_max=1e6)
    assert any(r == pytest.approx(n0, rel=1e-10) for r in roots)
    g = lambda n: n * dL + dlam * np.log(n) + dprior  # noqa: E731
    for r in roots:
        assert abs(g(r)) < 1e-9
    # g is convex in 1/n terms: exactly two roots when its minimum is below zero inside [1, n_max]
    n_star = dlam / dL
    assert len(roots) == (2 if g(1.0) > 0 and n_star < 1 else 1)
    # a case with two roots: g' changes sign inside the range
    c1 = fake("c1", 0.06, 2.0, 0.0)
    c2 = fake("c2", 0.05, 4.0, -4.0)  # g = 0.01 n - 2 log n + 4 has its minimum at n = 200
    r2 = critical_sample_sizes(c1, c2, n_max=1e6)
    assert len(r2) == 2
    for r in r2:
        assert 0.01 * r - 2 * np.log(r) + 4 == pytest.approx(0.0, abs=1e-9)


def test_c6_five_to_six_crossing_follows_from_the_phase_data():
    by = {p.label: p for p in enumerate_phases(6)}
    five, six = by["5"], by["6"]
    (n56,) = critical_sample_sizes(five, six)
    F = free_energy([five, six], n56)
    assert F[0] == pytest.approx(F[1], abs=1e-8)
    assert 400 < n56 < 900  # the paper locates the 5 -> 6 switch in this range
    dom = dominant_intervals(enumerate_phases(6), 10, 1e6)
    assert dom[-1]["phase"] == "6" and dom[-1]["n_from"] == pytest.approx(n56)
    assert dom[-2]["phase"] == "5"


def test_dominant_intervals_agree_with_pointwise_argmin():
    phases = enumerate_phases(5)
    dom = dominant_intervals(phases, 10, 1e5)
    assert dom[0]["n_from"] == 10 and dom[-1]["n_to"] == 1e5
    for d in dom:
        mid = np.sqrt(d["n_from"] * d["n_to"])
        assert dominant_phase(phases, mid) == d["phase"]
    for d0, d1 in zip(dom[:-1], dom[1:]):
        assert d0["n_to"] == d1["n_from"] and d0["phase"] != d1["phase"]


def test_llc_override_and_bad_inputs():
    phases = enumerate_phases(6)
    F = free_energy(phases, [100.0, 1000.0])
    assert F.shape == (len(phases), 2)
    F2 = free_energy(phases, [100.0, 1000.0], llc={"6": 10.0})
    assert F2[0, 0] - F[0, 0] == pytest.approx((10.0 - 8.5) * np.log(100.0))
    with pytest.raises(InputError):
        free_energy(phases, [0.0])
    with pytest.raises(InputError):
        crossings(phases, n_max=np.inf)
    with pytest.raises(InputError):
        free_energy(phases, 10.0, prior_sigma=0.0)


def test_beta_one_is_the_default_and_critical_sizes_scale_as_one_over_beta():
    phases = enumerate_phases(6)
    by = {p.label: p for p in phases}
    n = np.array([50.0, 600.0, 5e4])
    np.testing.assert_array_equal(free_energy(phases, n, beta=1.0), free_energy(phases, n))
    assert crossings(phases, 1e5, beta=1.0) == crossings(phases, 1e5)
    # F at (n, beta) is F at (n beta, 1): the tempered posterior depends on n beta only
    np.testing.assert_allclose(free_energy(phases, n, beta=0.25), free_energy(phases, 0.25 * n), rtol=1e-12)
    (n1,) = critical_sample_sizes(by["5"], by["6"])
    (n_half,) = critical_sample_sizes(by["5"], by["6"], beta=0.5)
    (n_three,) = critical_sample_sizes(by["5"], by["6"], n_max=1e7, beta=1 / 3)
    assert n_half == pytest.approx(2 * n1, rel=1e-10) and n_three == pytest.approx(3 * n1, rel=1e-10)
    assert n_half != pytest.approx(n1, rel=0.1)  # beta does move the prediction
    for beta in (0.5, 2.0):
        c1 = crossings(phases, 1e6, 10.0)
        cb = crossings(phases, 1e6 / beta, 10.0 / beta, beta=beta)
        assert [(e["from"], e["to"]) for e in cb] == [(e["from"], e["to"]) for e in c1]
        np.testing.assert_allclose([e["n"] * beta for e in cb], [e["n"] for e in c1], rtol=1e-9)
        d1 = dominant_intervals(phases, 10.0, 1e6)
        db = dominant_intervals(phases, 10.0 / beta, 1e6 / beta, beta=beta)
        assert [d["phase"] for d in db] == [d["phase"] for d in d1]
        np.testing.assert_allclose([d["n_from"] * beta for d in db], [d["n_from"] for d in d1], rtol=1e-9)
        mids = np.array([np.sqrt(d["n_from"] * d["n_to"]) for d in db])
        assert list(dominant_phase(phases, mids, beta=beta)) == [d["phase"] for d in db]


@pytest.mark.parametrize("beta", [0.0, -1.0, np.inf, np.nan, "hot"])
def test_bad_beta_is_an_input_error_naming_the_value(beta):
    phases = enumerate_phases(4)
    for call in (lambda: free_energy(phases, 10.0, beta=beta), lambda: crossings(phases, beta=beta),
                 lambda: dominant_intervals(phases, beta=beta), lambda: dominant_phase(phases, 10.0, beta=beta),
                 lambda: critical_sample_sizes(phases[0], phases[1], beta=beta)):
        with pytest.raises(InputError, match=r"beta: expected a finite number > 0, got " + repr(beta)[:3]):
            call()
