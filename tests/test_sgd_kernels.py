"""Kernel contract: reductions (SGLD without noise is SGD, ensemble == single runs), torch.optim
agreement, the LLC of a regular model, and failure detection."""

import math

import numpy as np
import pytest
import torch

from comparisons.errors import InputError
from sgd_tms import (LLCConfig, TrainConfig, adam, estimate_llc, momentum, run_steps, sgd, sgld,
                     sgld_llc, train)


def _quad_grad(position, batch):
    (w,) = position
    return 0.5 * (w * w).sum(-1), (w,)


def test_sgld_without_noise_is_sgd():
    w0 = (torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),)
    k1 = sgd(_quad_grad, lr=0.05)
    k2 = sgld(_quad_grad, step_size=0.1, nbeta=1.0, gamma=0.0, noise=0.0)
    s1, l1 = run_steps(k1, k1.init(w0), None, [None] * 20, record=True)
    s2, l2 = run_steps(k2, k2.init(w0), torch.Generator(), [None] * 20, record=True)
    torch.testing.assert_close(s1.position[0], s2.position[0], rtol=0, atol=1e-15)
    torch.testing.assert_close(l1, l2)
    assert s2.center[0] is w0[0]  # nothing the caller passed in is mutated or replaced


@pytest.mark.parametrize("which", ["momentum", "adam"])
def test_kernels_match_torch_optim(which):
    g = torch.Generator().manual_seed(1)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    H = A @ A.T + torch.eye(4, dtype=torch.float64)
    w0 = torch.randn(4, generator=g, dtype=torch.float64)

    def grad(position, batch):
        (w,) = position
        return 0.5 * w @ H @ w, (H @ w,)

    if which == "momentum":
        kern = momentum(grad, lr=0.01, beta=0.9)
        p = w0.clone().requires_grad_()
        opt = torch.optim.SGD([p], lr=0.01, momentum=0.9)
    else:
        kern = adam(grad, lr=0.01)
        p = w0.clone().requires_grad_()
        opt = torch.optim.Adam([p], lr=0.01)
    state, _ = run_steps(kern, kern.init((w0,)), None, [None] * 50)
    for _ in range(50):
        opt.zero_grad()
        (0.5 * p @ H @ p).backward()
        opt.step()
    torch.testing.assert_close(state.position[0], p.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ensemble_equals_single_runs(optimizer):
    cfg = TrainConfig(runs=3, n=100, batch_size=16, epochs=12, checkpoint_every=4, seed=7,
                      optimizer=optimizer, lr=0.01)
    ens = train(cfg)
    for r in range(3):
        one = train(cfg, run_ids=[r])
        np.testing.assert_allclose(ens["W"].sel(run=r).values, one["W"].sel(run=r).values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ens["b"].sel(run=r).values, one["b"].sel(run=r).values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ens["loss"].sel(run=r).values, one["loss"].sel(run=r).values, atol=1e-12)


def test_shared_data_option():
    cfg = TrainConfig(runs=2, n=50, batch_size=10, epochs=2, shared_data=True, checkpoint_every=1)
    ds = train(cfg)
    assert ds.sizes["data"] == 1


def test_sgld_llc_regular_quadratic_gives_half_dimension():
    """Quadratic L = |w|^2 / 2 in d = 18 dims: lambda = d/2 (up to nbeta/(nbeta + gamma))."""
    d, chains, nbeta, gamma, eps = 18, 200, 1000.0, 1.0, 1e-5

    def lg(W, b):
        return 0.5 * (W.square().sum((-2, -1)) + b.square().sum(-1)), (W, b)

    W0 = torch.zeros(1, chains, 2, 6, dtype=torch.float64)
    b0 = torch.zeros(1, chains, 6, dtype=torch.float64)
    cfg = LLCConfig(step_size=eps, gamma=gamma, beta=1.0, draws=3000, warmup=1000)
    res = sgld_llc(W0, b0, None, cfg, torch.Generator().manual_seed(0), loss_and_grad=lg, n=int(nbeta))
    expect = d / 2 * nbeta / (nbeta + gamma) / (1 - eps * (nbeta + gamma) / 4)
    est = res["llc"].values.mean()
    se = res["llc"].values.std() / math.sqrt(chains)
    assert abs(est - expect) < 5 * se + 0.05, (est, expect, se)
    assert not res["nonfinite"].values.any()


@pytest.fixture(scope="module")
def tiny_gaussian():
    cfg = TrainConfig(runs=2, n=200, batch_size=20, epochs=6, checkpoint_every=3, init="gaussian",
                      init_scale=0.7, seed=1)
    return train(cfg)


def test_escape_and_nonfinite_detection(tiny_gaussian):
    ds = tiny_gaussian.copy(deep=True)
    W = ds["W"].values.copy()
    W[1, 2, 0, 0] = np.nan  # run 1, last checkpoint: non-finite parameters (as after a divergence)
    ds["W"] = (ds["W"].dims, W)
    out = estimate_llc(ds, LLCConfig(draws=60, chains=3, step_size=1e-3))
    # step 0 of a Gaussian init is far from any critical point: SGLD descends below L_n(w*)
    assert (out["llc_n_escaped"].sel(step=0).values == 3).all()
    assert out["llc"].sel(step=0).isnull().all()
    # the non-finite checkpoint gets no estimate; its chains are not run, so not counted as
    # chains gone non-finite, and they contaminate no other checkpoint
    assert np.isnan(out["llc"].values[1, 2]) and np.isnan(out["llc_chain"].values[1, 2]).all()
    assert int(out["llc_n_nonfinite"].sum()) == 0
    assert not out["llc_escaped"].values[1, 2].any()
    assert np.isfinite(out["llc_chain"].values[0]).all()


def test_kernel_bad_inputs():
    with pytest.raises(InputError, match="lr: expected"):
        sgd(_quad_grad, lr=-1.0)
    with pytest.raises(InputError, match="gamma"):
        sgld(_quad_grad, step_size=1e-3, nbeta=1.0, gamma=-1.0)
    with pytest.raises(InputError, match="momentum"):
        momentum(_quad_grad, lr=0.1, beta=1.5)
