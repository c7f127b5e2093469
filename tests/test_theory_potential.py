"""The closed-form TMS potential against independent references."""

import numpy as np
import pytest
from scipy.integrate import quad

from comparisons.errors import InputError
from comparisons.theory import (child_rng, empirical_loss, empirical_loss_grad, empirical_loss_onehot,
                                onehot_summary, population_loss, population_loss_grad,
                                sample_inputs)

GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(3)  # exact for polynomials of degree 5


def loss_by_split_quadrature(W, b):
    """Gauss-Legendre on every piece between kinks: the integrand is polynomial on each."""
    c = W.shape[1]
    a = W.T @ W
    total = 0.0
    for i in range(c):
        for j in range(c):
            t = float(i == j)
            cuts = [0.0, 1.0]
            if a[i, j] != 0 and 0 < -b[i] / a[i, j] < 1:
                cuts.insert(1, -b[i] / a[i, j])
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                mu = lo + (hi - lo) * (GL_NODES + 1) / 2
                f = (t * mu - np.maximum(a[i, j] * mu + b[i], 0)) ** 2
                total += (hi - lo) / 2 * np.dot(GL_WEIGHTS, f)
    return total / c


def loss_by_adaptive_quad(W, b):
    c = W.shape[1]
    a = W.T @ W
    total = 0.0
    for i in range(c):
        for j in range(c):
            t = float(i == j)
            pts = [-b[i] / a[i, j]] if a[i, j] != 0 and 0 < -b[i] / a[i, j] < 1 else None
            total += quad(lambda m: (t * m - max(a[i, j] * m + b[i], 0.0)) ** 2, 0, 1, points=pts,
                          epsabs=1e-15, epsrel=1e-13)[0]
    return total / c


def paper_H(W, b):
    """Chen et al. (2023) Lemma 3.1, transcribed case by case (an independent formulation)."""
    c = W.shape[1]
    a = W.T @ W
    H = 0.0
    for i in range(c):
        l2 = a[i, i]
        N = (1 - l2) ** 2 - 3 * (1 - l2) * b[i] + 3 * b[i] ** 2
        if b[i] <= 0:
            Hi = sum((a[i, j] + b[i]) ** 3 / a[i, j] for j in range(c)
                     if j != i and a[i, j] > 0 and -a[i, j] <= b[i])
            if l2 > 0 and -l2 <= b[i]:
                Hi += b[i] ** 3 / l2**2 + b[i] ** 3 / l2 + N
            else:
                Hi += 1
        else:
            Hi = sum(-b[i] ** 3 / a[i, j] if -a[i, j] > b[i] else a[i, j] ** 2 + 3 * a[i, j] * b[i] + 3 * b[i] ** 2
                     for j in range(c) if j != i) + N
        H += Hi
    return H


def random_points(rng, count, c):
    W = rng.normal(size=(count, 2, c)) * rng.choice([0.3, 1.0, 1.5], size=(count, 1, 1))
    b = rng.normal(size=(count, c)) * rng.choice([0.1, 0.5, 1.0], size=(count, 1))
    return W, b


@pytest.mark.parametrize("c", [2, 3, 4, 6, 8])
def test_closed_form_matches_split_quadrature_on_many_points(c):
    rng = np.random.default_rng(c)
    W, b = random_points(rng, 250, c)
    closed = population_loss(W, b)
    ref = np.array([loss_by_split_quadrature(w, bb) for w, bb in zip(W, b)])
    np.testing.assert_allclose(closed, ref, rtol=1e-12, atol=1e-15)


def test_closed_form_matches_adaptive_quadrature_and_paper_lemma():
    rng = np.random.default_rng(1)
    for c in (3, 5, 6):
        W, b = random_points(rng, 30, c)
        for w, bb in zip(W, b):
            L = population_loss(w, bb)
            assert L == pytest.approx(loss_by_adaptive_quad(w, bb), rel=1e-11)
            assert 3 * c * L == pytest.approx(paper_H(w, bb), rel=1e-11)


@pytest.mark.parametrize("case", ["b_zero", "a_zero", "W_zero_dead", "W_zero_positive_bias", "kink_at_one"])
def test_boundary_cases(case):
    rng = np.random.default_rng(7)
    c = 5
    W, b = rng.normal(size=(2, c)), rng.normal(size=c) * 0.3
    if case == "b_zero":
        b[[0, 2]] = 0.0
    elif case == "a_zero":  # columns 0 and 1 orthogonal, column 2 orthogonal to 3
        W[:, 1] = [-W[1, 0], W[0, 0]]
        W[:, 3] = 0.7 * np.array([-W[1, 2], W[0, 2]])
        b[[0, 1]] = 0.0
    elif case == "W_zero_dead":
        W[:, [1, 4]] = 0.0
        b[[1, 4]] = [-0.2, 0.0]
    elif case == "W_zero_positive_bias":
        W[:, 2] = 0.0
        b[2] = 0.3
    elif case == "kink_at_one":  # a_00 + b_0 = 0: the own kink sits exactly at mu = 1
        b[0] = -W[:, 0] @ W[:, 0]
    assert population_loss(W, b) == pytest.approx(loss_by_split_quadrature(W, b), rel=1e-12)
    assert 3 * c * population_loss(W, b) == pytest.approx(paper_H(W, b), rel=1e-11)


def test_dead_feature_contributes_exactly_one_to_H():
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(2, 4)), rng.normal(size=4) * 0.3
    W5 = np.concatenate([W, np.zeros((2, 1))], axis=1)
    for dead_bias in (0.0, -0.1, -3.0):
        b5 = np.append(b, dead_bias)
        # the dead unit adds exactly 1 to H; the others see one more (never-firing) input
        H4 = 3 * 4 * population_loss(W, b)
        H5 = 3 * 5 * population_loss(W5, b5)
        assert H5 - H4 == pytest.approx(1.0 + _extra_zero_input_terms(W, b), abs=1e-13)


def _extra_zero_input_terms(W, b):
    # with x = mu e_5 (zero embedding), output i sees ReLU(b_i): 3 * sum_i relu(b_i)^2
    return 3 * np.sum(np.maximum(b, 0) ** 2)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    W, b = random_points(rng, 20, 6)
    gW, gb = population_loss_grad(W, b)
    h = 1e-6
    for idx in [(0, 0, 0), (3, 1, 4), (7, 0, 5), (19, 1, 2)]:
        E = np.zeros_like(W)
        E[idx] = h
        fd = (population_loss(W + E, b) - population_loss(W - E, b))[idx[0]] / (2 * h)
        assert gW[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    for idx in [(0, 0), (5, 3), (19, 5)]:
        e = np.zeros_like(b)
        e[idx] = h
        fd = (population_loss(W, b + e) - population_loss(W, b - e))[idx[0]] / (2 * h)
        assert gb[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_empirical_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    x = sample_inputs(200, 5, 0)
    W, b = rng.normal(size=(2, 5)), rng.normal(size=5) * 0.3
    gW, gb = empirical_loss_grad(W, b, x)
    h = 1e-7
    E = np.zeros_like(W)
    E[1, 3] = h
    assert gW[1, 3] == pytest.approx((empirical_loss(W + E, b, x) - empirical_loss(W - E, b, x)) / (2 * h), rel=1e-5)
    e = np.zeros(5)
    e[2] = h
    assert gb[2] == pytest.approx((empirical_loss(W, b + e, x) - empirical_loss(W, b - e, x)) / (2 * h), rel=1e-5)


def test_loss_is_invariant_under_O2_and_permutations():
    rng = np.random.default_rng(11)
    W, b = random_points(rng, 200, 6)
    th = rng.uniform(0, 2 * np.pi, size=200)
    Q = np.stack([np.stack([np.cos(th), -np.sin(th)], -1), np.stack([np.sin(th), np.cos(th)], -1)], -2)
    Q[::2] = Q[::2] @ np.diag([1.0, -1.0])  # half of them reflections
    perm = rng.permutation(6)
    L = population_loss(W, b)
    np.testing.assert_allclose(population_loss(Q @ W, b), L, rtol=1e-12)
    np.testing.assert_allclose(population_loss(W[..., perm], b[..., perm]), L, rtol=1e-12)
    x = sample_inputs(300, 6, 2)
    np.testing.assert_allclose(empirical_loss(Q @ W, b, x), empirical_loss(W, b, x), rtol=1e-12)


def test_empirical_loss_converges_to_population_loss():
    rng = np.random.default_rng(12)
    W, b = rng.normal(size=(2, 6)), rng.normal(size=6) * 0.3
    L = population_loss(W, b)
    x = sample_inputs(1_000_000, 6, 4)
    per_sample = ((x - np.maximum(x @ (W.T @ W) + b, 0)) ** 2).sum(axis=1)  # a = W^T W is symmetric
    errors = []
    for n in (1_000, 10_000, 100_000, 1_000_000):
        err = abs(empirical_loss(W, b, x[:n]) - L)
        assert err < 5 * per_sample.std() / np.sqrt(n)
        errors.append(err)
    assert errors[-1] < errors[0]


def test_sample_inputs_is_one_hot_seeded_and_prefix_stable():
    x = sample_inputs(1000, 6, 123)
    assert x.shape == (1000, 6)
    assert np.all((x > 0).sum(axis=1) == 1) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, sample_inputs(1000, 6, 123))
    np.testing.assert_array_equal(x[:100], sample_inputs(100, 6, 123))
    np.testing.assert_array_equal(x, sample_inputs(1000, 6, child_rng(123, "data")))
    assert not np.array_equal(x, sample_inputs(1000, 6, 124))
    counts = np.bincount(x.argmax(axis=1), minlength=6)
    assert counts.min() > 120  # uniform over features
    with pytest.raises(InputError):
        sample_inputs(0, 6, 1)
    with pytest.raises(InputError):
        sample_inputs(10, 6, None)


def test_onehot_loss_equals_dense_including_kinks_on_data_points():
    rng = np.random.default_rng(13)
    x = sample_inputs(700, 6, 5)
    x[:3] = 0.0  # mu = 0 rows are one-hot too
    data = onehot_summary(x)
    W, b = random_points(rng, 100, 6)
    np.testing.assert_allclose(empirical_loss_onehot(W, b, data), empirical_loss(W, b, x), rtol=1e-12, atol=1e-14)
    # put kinks exactly on data points: b_i = -a_ij mu_k for a sample mu_k of feature j
    W1 = rng.normal(size=(2, 6))
    a = W1.T @ W1
    j = 2
    mu_k = x[x[:, j] > 0][0, j]
    b1 = -a[:, j] * mu_k
    assert empirical_loss_onehot(W1, b1, data) == pytest.approx(empirical_loss(W1, b1, x), rel=1e-12)
    with pytest.raises(InputError):
        onehot_summary(np.ones((4, 3)))


def test_interval_cubes_are_pow_bit_for_bit():
    """The moments cube the interval ends with pow only off 0 and 1: the same bits as ``x**3``."""
    from comparisons.theory.potential import _cube

    x = np.concatenate([[0.0, -0.0, 1.0, 5e-324, 1e-300, np.nextafter(1.0, 0.0), 0.5],
                        np.random.default_rng(0).random(1000)])
    got, want = _cube(x), x**3
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
    assert _cube(x) is not x and np.array_equal(x[:3], [0.0, -0.0, 1.0])  # the input is left alone
