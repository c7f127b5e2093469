"""sgd_tms.model against the numpy truth of comparisons.theory, and critical points under descent."""

import numpy as np
import pytest
import torch

from comparisons.theory import (classify, empirical_loss, empirical_loss_grad, empirical_loss_onehot,
                                enumerate_phases, onehot_summary, population_loss,
                                population_loss_grad, sample_inputs)
from sgd_tms import (TrainConfig, minibatch_loss_and_grad, onehot_loss_and_grad, onehot_tensors,
                     population_loss_and_grad, train)
from sgd_tms import empirical_loss as torch_empirical_loss

T = torch.tensor


@pytest.fixture(scope="module")
def params():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 5, 2, 6))
    b = 0.3 * rng.normal(size=(3, 5, 6))
    # exact zeros and a k-gon (a_ij = 0 and b_i = 0 edge cases)
    six = next(p for p in enumerate_phases(6) if p.label == "4++")
    W[0, 0], b[0, 0] = six.W, six.b
    W[1, 1], b[1, 1] = 0.0, 0.0
    xs = np.stack([sample_inputs(300, 6, s) for s in range(3)])
    return W, b, xs


def test_minibatch_loss_and_grad_equal_theory(params):
    W, b, xs = params
    x = xs[:, :20]
    loss, (gW, gb) = minibatch_loss_and_grad(T(W[:, 0]), T(b[:, 0]), T(x))
    for i in range(3):
        assert np.isclose(loss[i].item(), empirical_loss(W[i, 0], b[i, 0], x[i]), rtol=1e-12, atol=1e-14)
        rW, rb = empirical_loss_grad(W[i, 0], b[i, 0], x[i])
        np.testing.assert_allclose(gW[i].numpy(), rW, atol=1e-13)
        np.testing.assert_allclose(gb[i].numpy(), rb, atol=1e-13)


def test_minibatch_grad_matches_autograd(params):
    W, b, xs = params
    Wt = T(W[:, 2]).requires_grad_()
    bt = T(b[:, 2]).requires_grad_()
    x = T(xs[:, :20])
    ref = ((torch.relu(x @ (Wt.mT @ Wt) + bt[:, None]) - x) ** 2).sum(-1).mean(-1)
    ref.sum().backward()
    _, (gW, gb) = minibatch_loss_and_grad(Wt.detach(), bt.detach(), x)
    np.testing.assert_allclose(gW.numpy(), Wt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(gb.numpy(), bt.grad.numpy(), atol=1e-12)


def test_dense_empirical_loss_equals_theory(params):
    W, b, xs = params
    got = torch_empirical_loss(T(W), T(b), T(xs), chunk=64).numpy()
    ref = np.stack([empirical_loss(W[i], b[i], xs[i]) for i in range(3)])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_onehot_loss_and_grad_equal_theory(params, dtype):
    W, b, xs = params
    data = onehot_tensors(xs, dtype=dtype)
    loss, (gW, gb) = onehot_loss_and_grad(T(W, dtype=dtype), T(b, dtype=dtype), data)
    tol = 1e-12 if dtype == torch.float64 else 2e-4
    for i in range(3):
        ref = empirical_loss_onehot(W[i], b[i], onehot_summary(xs[i]))
        np.testing.assert_allclose(loss[i].numpy(), ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(loss[i].numpy(), empirical_loss(W[i], b[i], xs[i]), rtol=tol, atol=tol)
        rW, rb = empirical_loss_grad(W[i], b[i], xs[i])
        np.testing.assert_allclose(gW[i].numpy(), rW, atol=tol * 10)
        np.testing.assert_allclose(gb[i].numpy(), rb, atol=tol * 10)


def test_onehot_shared_data_broadcasts(params):
    W, b, xs = params
    data = onehot_tensors(xs[0])
    loss, _ = onehot_loss_and_grad(T(W), T(b), data)
    ref = np.stack([empirical_loss(W[i], b[i], xs[0]) for i in range(3)])
    np.testing.assert_allclose(loss.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_population_twin_equals_theory(params):
    W, b, _ = params
    loss, (gW, gb) = population_loss_and_grad(T(W), T(b))
    np.testing.assert_allclose(loss.numpy(), population_loss(W, b), rtol=1e-12, atol=1e-15)
    rW, rb = population_loss_grad(W, b)
    np.testing.assert_allclose(gW.numpy(), rW, atol=1e-13)
    np.testing.assert_allclose(gb.numpy(), rb, atol=1e-13)


def test_population_gradient_descent_stays_at_critical_points():
    phases = [p for p in enumerate_phases(6) if p.label in ("6", "5", "5+", "4", "4+", "4++")]
    W = T(np.stack([p.W for p in phases]))
    b = T(np.stack([p.b for p in phases]))
    W0, b0 = W.clone(), b.clone()
    for _ in range(300):
        _, (gW, gb) = population_loss_and_grad(W, b)
        W, b = W - 0.01 * gW, b - 0.01 * gb
    drift = ((W - W0).square().sum((-2, -1)) + (b - b0).square().sum(-1)).sqrt()
    assert drift.max().item() < 1e-6
    labels, _ = classify(W.numpy(), b.numpy())
    assert list(labels) == [p.label for p in phases]


def test_minibatch_sgd_at_the_hexagon_stays_hexagon():
    cfg = TrainConfig(runs=3, epochs=60, init_k=6, init_noise=0.01, checkpoint_every=20, seed=3)
    ds = train(cfg)
    labels, _ = classify(ds["W"].values, ds["b"].values)
    assert (labels == "6").all(), labels
    six = next(p for p in enumerate_phases(6) if p.label == "6")
    assert np.all(np.abs(ds["population_loss"].values[:, -1] - six.loss) < 5e-3)
