"""Exact one-hot gradient and the nested-ladder summary of :mod:`comparisons.theory.onehot`."""

import numpy as np
import pytest

from bayes_tms.fused_op import onehot_loss_grad_numpy
from bayes_tms.likelihood import onehot_arrays
from comparisons.errors import InputError
from comparisons.theory import (empirical_loss, empirical_loss_grad, empirical_loss_onehot,
                                empirical_loss_onehot_grad, nested_loss_grad, nested_onehot_summary,
                                onehot_summary, sample_inputs)


def _params(rng, shape, c, r=2):
    return rng.normal(size=shape + (r, c)), 0.4 * rng.normal(size=shape + (c,))


def test_grad_matches_dense_reference_batched():
    rng = np.random.default_rng(0)
    x = sample_inputs(400, 5, 1)
    W, b = _params(rng, (3, 4), 5)
    L, gW, gb = empirical_loss_onehot_grad(W, b, onehot_summary(x))
    dW, db = empirical_loss_grad(W, b, x)
    assert L.shape == (3, 4) and gW.shape == W.shape and gb.shape == b.shape
    np.testing.assert_allclose(L, empirical_loss(W, b, x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gW, dW, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(gb, db, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(L, empirical_loss_onehot(W, b, onehot_summary(x)), rtol=1e-13)


def test_grad_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = sample_inputs(300, 4, 2)
    data = onehot_summary(x)
    W, b = _params(rng, (), 4)
    _, gW, gb = empirical_loss_onehot_grad(W, b, data)
    h = 1e-6
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        fd = (empirical_loss_onehot(W + E, b, data) - empirical_loss_onehot(W - E, b, data)) / (2 * h)
        assert abs(fd - gW[idx]) < 1e-6 * (1 + abs(fd))
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (empirical_loss_onehot(W, b + e, data) - empirical_loss_onehot(W, b - e, data)) / (2 * h)
        assert abs(fd - gb[i]) < 1e-6 * (1 + abs(fd))


def _fused_reference(W, b, x):
    arr = onehot_arrays(x)
    return onehot_loss_grad_numpy(W, b, arr.mu, arr.prefix, arr.start, arr.end, arr.sumsq, arr.n)


def test_grad_matches_bayes_reference_including_kinks_on_data_points():
    """ReLU'(0) = 0 exactly as the PyTensor op's numpy reference, also when a kink hits a sample."""
    rng = np.random.default_rng(5)
    c = 4
    x = sample_inputs(200, c, 7)
    x[:3] = 0.0  # all-zero rows (counted under feature 0)
    data = onehot_summary(x)
    W, b = _params(rng, (), c)
    cases = [(W, b)]
    # a_00 = +1 with the kink exactly on a sample of feature 0; a_10 = -1 with the kink of output 1
    # exactly on a sample of feature 0 too (root = -b / a is then exactly that sample)
    mu0 = x[x[:, 0] > 0, 0]
    Wt = W.copy()
    Wt[:, 0] = [1.0, 0.0]
    Wt[:, 1] = [-1.0, 0.0]
    bt = b.copy()
    bt[0] = -mu0[0]
    bt[1] = mu0[1]
    cases.append((Wt, bt))
    bz = b.copy()
    bz[1] = 0.0  # a_10 < 0, root 0: the zero rows sit on the kink
    cases.append((Wt, bz))
    for Wc, bc in cases:
        L, gW, gb = empirical_loss_onehot_grad(Wc, bc, data)
        L2, gW2, gb2 = _fused_reference(Wc, bc, x)
        assert L == pytest.approx(L2, rel=1e-12)
        np.testing.assert_allclose(gW, gW2, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(gb, gb2, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("c", [3, 6])
def test_nested_matches_each_rung(c):
    rng = np.random.default_rng(c)
    N = 500
    x = sample_inputs(N, c, 11)
    x[[4, 50]] = 0.0
    ns = [N, 1, 37, 200, 7]  # any order, both ends
    nested = nested_onehot_summary(x, ns)
    W, b = _params(rng, (3, len(ns)), c)
    L, gW, gb = nested_loss_grad(W, b, nested)
    assert L.shape == (3, len(ns)) and gW.shape == W.shape and gb.shape == b.shape
    L_only = nested_loss_grad(W, b, nested, grad=False)
    np.testing.assert_array_equal(L_only, L)
    for k, n in enumerate(ns):
        ref = empirical_loss_onehot_grad(W[:, k], b[:, k], onehot_summary(x[:n]))
        np.testing.assert_allclose(L[:, k], ref[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gW[:, k], ref[1], rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(gb[:, k], ref[2], rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(L[:, k], empirical_loss(W[:, k], b[:, k], x[:n]), rtol=1e-12, atol=1e-14)


def test_nested_rejects_bad_input():
    x = sample_inputs(50, 3, 0)
    with pytest.raises(InputError, match="ns"):
        nested_onehot_summary(x, [10, 51])
    with pytest.raises(InputError, match="ns"):
        nested_onehot_summary(x, [0, 10])
    with pytest.raises(InputError, match="one-hot"):
        nested_onehot_summary(np.ones((5, 3)), [2])
    nested = nested_onehot_summary(x, [10, 20])
    with pytest.raises(InputError, match="rung axis"):
        nested_loss_grad(np.zeros((3, 2, 3)), np.zeros((3, 3)), nested)
