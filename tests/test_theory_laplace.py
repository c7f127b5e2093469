"""Laplace free energies with O(1) terms: each term against a direct computation."""

import itertools
import math

import numpy as np
import pytest

from comparisons.errors import InputError
from comparisons.theory import (enumerate_phases, free_energy, laplace_crossing, laplace_crossings, laplace_free_energy,
                                laplace_terms)


def by_label(c):
    return {p.label: p for p in enumerate_phases(c)}


def test_multiplicity_counts_distinct_rotation_orbits():
    p = by_label(5)["5"]
    seen = set()
    for perm in itertools.permutations(range(5)):
        for flip in (1.0, -1.0):
            W = np.diag([1.0, flip]) @ p.W[:, perm]
            gram = np.round(W.T @ W, 8)
            area = np.round(np.einsum("i,j->ij", W[0], W[1]) - np.einsum("i,j->ij", W[1], W[0]), 8)
            seen.add((gram.tobytes(), area.tobytes()))  # equal iff related by a rotation
    assert laplace_terms(p).multiplicity == len(seen) == 24


def test_orbit_length_is_the_circumference_of_the_rotation_orbit():
    p = by_label(6)["6"]
    th = np.linspace(0, 2 * np.pi, 20001)
    pts = np.stack([np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ p.W for t in th])
    length = np.sum(np.linalg.norm(np.diff(pts.reshape(len(th), -1), axis=0), axis=1))
    assert laplace_terms(p).orbit_length == pytest.approx(length, rel=1e-6)


def test_terms_rank_and_walls():
    P = by_label(6)
    assert laplace_terms(P["6"]).rank == 17 and laplace_terms(P["6"]).dead == ()
    t5 = laplace_terms(P["5"])
    assert t5.rank == 14 and t5.pinned_dims == 15 and len(t5.dead) == 1
    assert laplace_terms(P["4"]) is None  # on the b = 0 wall


def test_flat_volume_tends_to_the_prior_mass_of_the_region_as_n_goes_to_zero():
    P = by_label(6)
    F = laplace_free_energy([P["5"]], [1e-9, 1e-8], samples=400_000, seed=3)
    t = laplace_terms(P["5"])
    rest = (0.5 * t.rank * np.log(1e-9 / (2 * np.pi)) + t.half_log_det + 0.5 * t.pinned_dims * np.log(2 * np.pi)
            + t.pinned_norm2 / 2 - np.log(t.orbit_length) - np.log(t.multiplicity) + 1e-9 * P["5"].loss)
    V = np.exp(-(F[0, 0] - rest))
    exact = 0.5 * (1 - np.exp(-0.5**2 / 2))  # P(b <= 0) P(|W| < 1/2) for standard normals
    assert V == pytest.approx(exact, rel=0.02)


def test_laplace_differs_from_the_asymptotic_formula_by_an_n_independent_amount_without_dead_columns():
    six = by_label(6)["6"]
    n = np.array([1e3, 1e4, 1e5])
    d = laplace_free_energy([six], n)[0] - free_energy([six], n)[0]
    assert np.ptp(d) == pytest.approx(0.0, abs=1e-9)


def test_c6_five_to_six_crossing_moves_earlier_with_the_order_one_terms():
    P = by_label(6)
    n_lap = laplace_crossing(P["5"], P["6"], samples=50_000)
    (n_asym,) = [e["n"] for e in __import__("comparisons.theory", fromlist=["crossings"]).crossings(
        [P["5"], P["6"]], 1e6)]
    assert 100 < n_lap < n_asym
    assert laplace_crossing(P["4"], P["6"]) is None
    with pytest.raises(InputError):
        laplace_free_energy([P["6"]], [0.0])
    with pytest.raises(InputError):
        laplace_free_energy([P["6"]], [10.0], samples=10)
    assert math.isfinite(laplace_free_energy([P["6"]], [10.0])[0, 0])


def test_laplace_depends_on_n_beta_only_and_its_crossing_scales_as_one_over_beta():
    P = by_label(6)
    pair = [P["5"], P["6"]]
    n = np.array([100.0, 400.0])
    np.testing.assert_array_equal(laplace_free_energy(pair, n, samples=20_000, beta=1.0),
                                  laplace_free_energy(pair, n, samples=20_000))
    np.testing.assert_allclose(laplace_free_energy(pair, n, samples=20_000, beta=0.5),
                               laplace_free_energy(pair, 0.5 * n, samples=20_000), rtol=1e-12)
    n1 = laplace_crossing(P["5"], P["6"], samples=20_000)
    n_half = laplace_crossing(P["5"], P["6"], samples=20_000, beta=0.5)  # default window scales too
    assert n1 is not None and n_half is not None
    assert n_half == pytest.approx(2 * n1, rel=1e-5)
    assert laplace_crossing(P["5"], P["6"], n_min=40.0, n_max=2e4, samples=20_000, beta=0.5) == pytest.approx(n_half)
    # an explicit window is in sample sizes n: at beta = 1/2 it reaches effective sizes below 20
    # (there 6 -> 5 at n = 22: effective 11, outside the default window)
    assert laplace_crossing(P["6"], P["5"], n_min=20.0, n_max=1e4, samples=20_000, beta=0.5) < 40.0
    assert laplace_crossing(P["6"], P["5"], samples=20_000, beta=0.5) is None
    with pytest.raises(InputError, match="beta"):
        laplace_free_energy(pair, n, beta=0.0)
    with pytest.raises(InputError, match="beta"):
        laplace_crossing(P["5"], P["6"], beta=float("nan"))


def test_a_pair_that_crosses_twice_gives_both_crossings_and_the_directed_one():
    # c = 8: 6 leads 5 at small n, 5 leads from ~37, 6 again from ~191 (F_5 - F_6 is convex in n)
    P = by_label(8)
    both = laplace_crossings(P["5"], P["6"], samples=100_000)  # 20,000 moves the second by 30%
    assert [(e["from"], e["to"]) for e in both] == [("6", "5"), ("5", "6")]
    low, high = (e["n"] for e in both)
    assert 25 < low < 50 and 150 < high < 250
    # the prediction of a 5 -> 6 switch is where 6 takes over, not the first sign change
    assert laplace_crossing(P["5"], P["6"], samples=100_000) == pytest.approx(high)
    assert laplace_crossing(P["6"], P["5"], samples=100_000) == pytest.approx(low)
    # the free energies themselves agree with the directions
    F = laplace_free_energy([P["5"], P["6"]], [0.5 * low, np.sqrt(low * high), 2 * high], samples=100_000)
    assert F[1, 0] < F[0, 0] and F[0, 1] < F[1, 1] and F[1, 2] < F[0, 2]
    # one crossing (c = 6): both functions agree, and the reverse direction has none
    P6 = by_label(6)
    (one,) = laplace_crossings(P6["5"], P6["6"], samples=20_000)
    assert (one["from"], one["to"]) == ("5", "6")
    assert laplace_crossing(P6["6"], P6["5"], samples=20_000) is None
