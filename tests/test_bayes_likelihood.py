"""The PyTensor likelihoods and the PyMC model against the numpy references."""

import numpy as np
import pytest
from scipy.stats import norm

from comparisons.theory import (empirical_loss, empirical_loss_grad, empirical_loss_onehot,
                                onehot_summary, sample_inputs)

pytensor = pytest.importorskip("pytensor")
import pytensor.tensor as pt  # noqa: E402

from bayes_tms import build_model, dense_loss, onehot_arrays, onehot_loss_fused  # noqa: E402
from bayes_tms.fused_op import onehot_loss_grad_numpy  # noqa: E402

C = 5


def _data_with_dyadic_points():
    """One-hot data whose magnitudes include exact dyadic values (0.5, 0.25, 0.75)."""
    x = sample_inputs(300, C, 3)
    for k, (j, mu) in enumerate([(0, 0.5), (1, 0.25), (2, 0.75), (3, 0.5), (4, 0.25), (0, 0.75)]):
        x[k] = 0.0
        x[k, j] = mu
    x[10] = 0.0  # an all-zero row
    return x


def _kink_params(rng):
    """Dyadic W and b with kinks -b_i/a_ij exactly on data points (exact float arithmetic)."""
    W = rng.integers(-4, 5, size=(2, C)) / 4.0
    W[:, 0] = [1.0, 0.0]
    W[:, 1] = [0.5, 0.5]
    W[:, 2] = [-1.0, 0.5]
    a = W.T @ W
    b = rng.integers(-4, 5, size=C) / 8.0
    b[0] = -a[0, 0] * 0.5      # diagonal kink on mu = 0.5 of feature 0
    b[1] = -a[1, 0] * 0.75     # off-diagonal kink on mu = 0.75 of feature 0
    b[2] = -a[2, 2] * 0.75     # diagonal kink on mu = 0.75 of feature 2
    b[3] = -a[3, 1] * 0.25 if a[3, 1] != 0 else 0.0
    return W, b


def _points():
    rng = np.random.default_rng(11)
    pts = [(rng.normal(size=(2, C)), rng.normal(scale=0.5, size=C)) for _ in range(4)]
    pts += [_kink_params(rng) for _ in range(3)]
    pts.append((np.zeros((2, C)), np.array([0.1, -0.1, 0.0, 0.2, -0.3])))  # a = 0 everywhere
    return pts


def _compiled(kind, x):
    W = pt.dmatrix("W")
    b = pt.dvector("b")
    if kind == "dense":
        loss = dense_loss(W, b, pt.constant(x))
    else:
        d = onehot_arrays(x)
        loss = onehot_loss_fused(W, b, d.mu, d.prefix, d.start, d.end, d.sumsq, float(d.n))
    gW, gb = pytensor.grad(loss, [W, b])
    return pytensor.function([W, b], [loss, gW, gb])


@pytest.fixture(scope="module")
def functions():
    x = _data_with_dyadic_points()
    return x, {k: _compiled(k, x) for k in ("dense", "fused")}


def _close(u, v, rtol=1e-9):
    u, v = np.asarray(u), np.asarray(v)
    scale = max(np.max(np.abs(v)), 1e-300)
    return np.max(np.abs(u - v)) <= rtol * scale


@pytest.mark.parametrize("k", range(8))
def test_fast_equals_dense_value_and_gradient(functions, k):
    x, fns = functions
    W, b = _points()[k]
    ref = fns["dense"](W, b)
    # dense graph agrees with the numpy truth
    assert _close(ref[0], empirical_loss(W, b, x))
    gW, gb = empirical_loss_grad(W, b, x)
    assert _close(ref[1], gW) and _close(ref[2], gb)
    assert _close(empirical_loss_onehot(W, b, onehot_summary(x)), ref[0])
    for u, v in zip(fns["fused"](W, b), ref):
        assert _close(u, v), (u, v)
    num = onehot_loss_grad_numpy(W, b, *[getattr(onehot_arrays(x), f) for f in
                                         ("mu", "prefix", "start", "end", "sumsq")], x.shape[0])
    for u, v in zip(num, ref):
        assert _close(u, v)


def test_kinks_really_sit_on_data_points():
    rng = np.random.default_rng(11)
    x = _data_with_dyadic_points()
    W, b = _kink_params(rng)
    a = W.T @ W
    pre = x @ a + b
    assert np.any(pre == 0.0)  # some samples exactly on a kink


def test_model_logp_is_log_prior_minus_n_beta_loss():
    x = sample_inputs(120, 4, 5)
    for likelihood, beta, sigma in (("auto", 1.0, 1.0), ("dense", 0.5, 2.0)):
        model = build_model(x, beta=beta, prior_sigma=sigma, likelihood=likelihood)
        assert model.tms_likelihood == ("onehot" if likelihood == "auto" else "dense")
        logp = model.compile_logp()
        rng = np.random.default_rng(2)
        for _ in range(3):
            W, b = rng.normal(size=(2, 4)), rng.normal(size=4)
            want = (norm.logpdf(W, 0, sigma).sum() + norm.logpdf(b, 0, sigma).sum()
                    - 120 * beta * empirical_loss(W, b, x))
            assert np.isclose(logp({"W": W, "b": b}), want, rtol=1e-10, atol=1e-9)


def test_model_dims_and_set_data_serve_every_n():
    import pymc as pm

    from bayes_tms import model_data

    x = sample_inputs(200, 4, 1)
    model = build_model(x[:50])
    assert model.named_vars_to_dims["W"] == ("hidden", "feature")
    assert model.named_vars_to_dims["b"] == ("feature",)
    logp = model.compile_logp()
    W, b = np.ones((2, 4)) * 0.3, -0.1 * np.ones(4)
    with model:
        pm.set_data(model_data(x))
    logp2 = model.compile_logp()
    want = norm.logpdf(W).sum() + norm.logpdf(b).sum() - 200 * empirical_loss(W, b, x)
    assert np.isclose(logp2({"W": W, "b": b}), want, rtol=1e-10)
    # the function compiled before set_data reads the same shared data: one compile, every n
    assert np.isclose(logp({"W": W, "b": b}), want, rtol=1e-10)
