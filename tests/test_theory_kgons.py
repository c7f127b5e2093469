"""k-gon enumeration: criticality, the LLC rules of the theory, the decorations."""

import numpy as np
import pytest

from comparisons.errors import InputError
from comparisons.theory import (enumerate_phases, kgon_point, population_loss, population_loss_grad,
                                solve_kgon)
from comparisons.theory.kgons import _family_grad


def rotate(W, theta, reflect=False):
    Q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (Q @ np.diag([1.0, -1.0]) if reflect else Q) @ W


@pytest.mark.parametrize("c", range(2, 9))
def test_every_enumerated_point_is_critical_in_the_full_space(c):
    rng = np.random.default_rng(c)
    phases = enumerate_phases(c)
    assert phases, f"no phase found for c = {c}"
    for p in phases:
        perm = rng.permutation(c)
        W = rotate(p.W, rng.uniform(0, 2 * np.pi), reflect=bool(rng.integers(2)))[:, perm]
        gW, gb = population_loss_grad(W, p.b[perm])
        assert np.sqrt(np.sum(gW**2) + np.sum(gb**2)) < 1e-8, p.label
        assert p.grad_norm < 1e-8
        assert population_loss(W, p.b[perm]) == pytest.approx(p.loss, abs=1e-14)


@pytest.mark.parametrize("c", [4, 6, 8])
def test_family_roots_are_solved_to_high_accuracy(c):
    for k in range(2, c + 1):
        for length, bias in solve_kgon(k, c):
            assert np.linalg.norm(_family_grad(np.array([length, bias]), k, c)) < 1e-10


def test_square_is_unit_length_zero_bias_and_larger_polygons_have_negative_bias():
    assert solve_kgon(4, 6) == ((1.0, 0.0),)
    for k in range(5, 9):
        (length, bias), = solve_kgon(k, 8)
        assert length > 1 and bias < 0
    # the regular k-gon solution does not depend on how many dead features sit beside it
    assert solve_kgon(5, 5)[0] == pytest.approx(solve_kgon(5, 8)[0], abs=1e-12)


@pytest.mark.parametrize("c", [5, 6, 7, 8])
def test_llc_rules_of_the_theory(c):
    by = {p.label: p for p in enumerate_phases(c)}
    full = by[str(c)]
    assert not full.on_wall and full.llc == pytest.approx((3 * c - 1) / 2)  # k = c: one flat O(2) direction
    for k in range(5, c):
        assert by[str(k)].llc == pytest.approx((3 * k - 1) / 2)  # dead columns with b < 0 add 0
        for s in range(1, c - k + 1):
            plus = by[str(k) + "+" * s]
            assert plus.llc - by[str(k)].llc == pytest.approx(1.5 * s)  # each + adds 3/2
            assert plus.H == pytest.approx(by[str(k)].H - 3 * s / (4 * c), abs=1e-12)  # each + lowers H by 3/(4c)


def test_square_family_sits_on_walls_and_gets_no_rank_llc():
    for p in enumerate_phases(6):
        if p.k <= 4:
            assert p.on_wall and p.llc is None and p.llc_bound == p.hessian_rank / 2
        else:
            assert not p.on_wall and p.llc == p.hessian_rank / 2


def test_minus_decorations_are_critical_only_where_the_polygon_does_not_interfere():
    labels = {p.label for p in enumerate_phases(6)}
    assert {"4++-", "4+-", "4-"} <= labels
    assert not any(lab.startswith(("5", "6")) and lab.endswith("-") for lab in labels)
    # and the enumerator really checks: a switched-off 5-gon vertex is not critical
    (length, bias), = solve_kgon(5, 6)
    W, b = kgon_point(5, 6, length, bias, sigma=0, phi=1)
    gW, gb = population_loss_grad(W, b)
    assert np.sqrt(np.sum(gW**2) + np.sum(gb**2)) > 1e-4


def test_prior_term_counts_pinned_parameters_only():
    by = {p.label: p for p in enumerate_phases(6)}
    six = by["6"]
    assert six.prior_term == pytest.approx(0.5 * 6 * (six.length**2 + six.bias**2))
    assert by["4"].prior_term == pytest.approx(2.0)  # four unit columns, zero biases, dead biases free
    assert by["4++"].prior_term == pytest.approx(2.0 + 2 * 0.5 * (1 / 12) ** 2)
    assert by["4-"].prior_term == pytest.approx(2.0)  # a switched-off column keeps its W, its bias is free


def test_labels_and_bad_inputs():
    labels = [p.label for p in enumerate_phases(6)]
    assert len(labels) == len(set(labels))
    assert labels[0] == "6"  # the lowest loss phase at c = 6
    with pytest.raises(InputError):
        enumerate_phases(9)
    with pytest.raises(InputError):
        enumerate_phases(6, r=3)
    with pytest.raises(InputError):
        kgon_point(7, 6, 1.0, 0.0)
