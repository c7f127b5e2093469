"""Replica exchange over the n-ladder (:mod:`bayes_tms.pt`)."""

import numpy as np
import pytest

from bayes_tms.pt import (PTConfig, PTTarget, init, load_state, refine_ladder, resume_tms_pt,
                          round_trip_update, run, sample_tms_pt, save_state, swap_log_ratio,
                          tms_target, warm_start)
from comparisons.errors import InputError
from comparisons.theory import empirical_loss, population_loss, sample_inputs

# ----------------------------------------------------------------------------------------------
# a 1-D toy with two modes and nested data: n L_n(w) = n (w^2 - 1)^2 + TILT * S_n w, S_n = sum_{k<n} y_k

TILT = 0.15
SIGMA = 2.0


def _toy_target(ns, y, beta=1.0):
    ns = np.asarray(ns, dtype=np.int64)
    S = np.concatenate([[0.0], np.cumsum(y)])[ns]  # (R,)
    nb = ns * beta

    def logdensity_and_grad(q):
        w = q[..., 0]
        logp = -0.5 * w * w / SIGMA**2 - nb * (w * w - 1) ** 2 - beta * TILT * S * w
        g = -w / SIGMA**2 - nb * 4 * w * (w * w - 1) - beta * TILT * S
        return logp, g[..., None]

    return PTTarget(ns=ns, dim=1, logdensity_and_grad=logdensity_and_grad,
                    split=lambda q: {"w": q[..., 0]}, dims={"w": ()},
                    sample_prior=lambda rng, shape: rng.normal(0, SIGMA, tuple(shape) + (1,)),
                    step_size_hint=np.full(len(ns), 0.1))


def _toy_mass(ns, y, beta=1.0):
    """P(w > 0) at each rung by quadrature."""
    w = np.linspace(-4, 4, 80001)[:, None]
    lp, _ = _toy_target(ns, y, beta).logdensity_and_grad(np.broadcast_to(w[..., None], (w.size, len(ns), 1)))
    p = np.exp(lp - lp.max(axis=0))
    return p[w[:, 0] > 0].sum(axis=0) / p.sum(axis=0)


def test_toy_mode_masses_match_quadrature():
    y = np.random.default_rng(4).normal(size=64)
    ns = (1, 2, 4, 8, 16, 32, 64)
    exact = _toy_mass(ns, y)
    assert np.ptp(exact) > 0.3 and exact.max() > 0.65  # the test has teeth: unequal modes
    target = _toy_target(ns, y)
    state = init(target, 16, 3, warmup=300, leapfrog=8)
    state = run(state, target, 300 + 2500)
    mass_copy = (state.draws[..., 0] > 0).mean(axis=1)  # (copies, R)
    est = mass_copy.mean(axis=0)
    se = mass_copy.std(axis=0, ddof=1) / np.sqrt(mass_copy.shape[0])
    assert np.all(np.abs(est - exact) <= 4 * se + 0.01), (est, exact, se)
    # the barrier at n = 64 is 64 nats: the masses there come from swaps, and walkers travel
    assert state.round_trips.sum() > 50
    acc = state.swap_accepts.sum(0) / state.swap_attempts.sum(0)
    assert np.all(acc > 0.2)


def test_toy_ladder_refinement_inserts_rungs():
    y = np.random.default_rng(4).normal(size=64)
    ns, pilot, record = refine_ladder(lambda n: _toy_target(n, y), (1, 64), copies=8, seed=0,
                                      pilot_sweeps=200, pilot_warmup=100, leapfrog=8)
    assert record["converged"]
    assert ns[0] == 1 and ns[-1] == 64 and len(ns) > 2 and np.all(np.diff(ns) > 0)
    assert len(record["rounds"]) >= 2 and min(record["rounds"][0]["swap_accept"]) < 0.2
    assert min(record["rounds"][-1]["swap_accept"]) >= 0.2
    assert np.array_equal(pilot.ns, ns)
    # a cap that cannot be met is flagged, not hidden
    with pytest.warns(RuntimeWarning, match="below"):
        ns2, _, record2 = refine_ladder(lambda n: _toy_target(n, y), (1, 64), copies=4, seed=0,
                                        max_rungs=2, pilot_sweeps=50, pilot_warmup=50)
    assert not record2["converged"] and list(ns2) == [1, 64]


def test_round_trip_bookkeeping():
    # one copy, 3 rungs; walker 0 goes bottom -> top -> bottom
    direction = np.zeros((1, 3), dtype=np.int64)
    total = 0
    for rep in ([0, 1, 2], [1, 0, 2], [1, 2, 0], [2, 1, 0], [0, 1, 2]):
        direction, done = round_trip_update(np.array([rep]), direction)
        total += int(done[0])
    assert total == 1
    # walker 2 started at the top and reached the bottom: not a round trip (it never went up)
    assert direction[0, 2] == -1


# ----------------------------------------------------------------------------------------------
# TMS swaps: exact ratio


def _logp_bruteforce(q, n, x, c, beta, sigma):
    W, b = q[: 2 * c].reshape(2, c), q[2 * c:]
    return -0.5 * (q @ q) / sigma**2 - n * beta * float(empirical_loss(W, b, x[:n]))


@pytest.mark.parametrize("parity", [0, 1])
def test_swap_log_ratio_matches_bruteforce(parity):
    c, beta, sigma = 5, 0.7, 1.3
    x = sample_inputs(150, c, 2)
    ns = (20, 35, 60, 100, 150)
    target = tms_target(ns, x=x, features=c, beta=beta, prior_sigma=sigma)
    rng = np.random.default_rng(9)
    q = rng.normal(size=(3, len(ns), 3 * c)) * 0.6
    pairs, log_ratio, _ = swap_log_ratio(target, q, parity)
    assert list(pairs) == list(range(parity, len(ns) - 1, 2))
    for ci in range(3):
        for k, r in enumerate(pairs):
            na, nb = ns[r], ns[r + 1]
            wa, wb = q[ci, r], q[ci, r + 1]
            brute = (_logp_bruteforce(wb, na, x, c, beta, sigma) + _logp_bruteforce(wa, nb, x, c, beta, sigma)
                     - _logp_bruteforce(wa, na, x, c, beta, sigma) - _logp_bruteforce(wb, nb, x, c, beta, sigma))
            assert log_ratio[ci, k] == pytest.approx(brute, rel=1e-9, abs=1e-9)

            def block(w, na=na, nb=nb):  # n_b L_b - n_a L_a: the loss summed over rows n_a .. n_b
                W, b = w[: 2 * c].reshape(2, c), w[2 * c:]
                return (nb - na) * float(empirical_loss(W, b, x[na:nb]))
            assert log_ratio[ci, k] == pytest.approx(beta * (block(wb) - block(wa)), rel=1e-9, abs=1e-9)


def test_population_target_uses_population_loss():
    c, ns = 4, (10, 40)
    target = tms_target(ns, features=c, beta=2.0, prior_sigma=1.0, population=True)
    q = np.random.default_rng(1).normal(size=(2, 2, 3 * c))
    lp, g = target.logdensity_and_grad(q)
    W, b = q[..., : 2 * c].reshape(2, 2, 2, c), q[..., 2 * c:]
    ref = -0.5 * (q * q).sum(-1) - 2.0 * np.array(ns) * population_loss(W, b)
    np.testing.assert_allclose(lp, ref, rtol=1e-12)
    h, e = 1e-6, np.zeros(3 * c)
    e[3] = h
    fd = (target.logdensity_and_grad(q + e)[0] - target.logdensity_and_grad(q - e)[0]) / (2 * h)
    np.testing.assert_allclose(g[..., 3], fd, rtol=1e-5, atol=1e-5)


def test_population_run_reports_population_loss():
    res = sample_tms_pt(None, PTConfig(ns=(20, 80), features=4, copies=2, sweeps=20, warmup=10,
                                 pilot_sweeps=10, pilot_warmup=10, population=True))
    post = res.posteriors[80].posterior
    assert post.attrs["population"] == 1 and "empirical_loss" not in post
    np.testing.assert_allclose(post["population_loss"].values,
                               population_loss(post["W"].values, post["b"].values), rtol=1e-9, atol=1e-12)


def test_tms_gradient_matches_finite_differences():
    c = 4
    x = sample_inputs(80, c, 0)
    target = tms_target((30, 80), x=x, features=c, beta=1.0, prior_sigma=1.0)
    q = np.random.default_rng(2).normal(size=(2, 2, 3 * c))
    _, g = target.logdensity_and_grad(q)
    h = 1e-6
    for i in range(3 * c):
        e = np.zeros(3 * c)
        e[i] = h
        fd = (target.logdensity_and_grad(q + e)[0] - target.logdensity_and_grad(q - e)[0]) / (2 * h)
        np.testing.assert_allclose(g[..., i], fd, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# seeds, layout, resume

SMALL = dict(ns=(20, 40, 80), features=4, copies=3, sweeps=40, warmup=20, leapfrog=4,
             pilot_sweeps=20, pilot_warmup=10, min_swap_accept=0.5)


def test_same_seed_same_draws_and_output_layout():
    a = sample_tms_pt(None, PTConfig(**SMALL, seed=0))
    b = sample_tms_pt(None, PTConfig(**SMALL, seed=0))
    c = sample_tms_pt(None, PTConfig(**SMALL, seed=1))
    np.testing.assert_array_equal(a.state.draws, b.state.draws)
    np.testing.assert_array_equal(a.state.ns, b.state.ns)
    assert not np.array_equal(a.state.draws[:, :, -1], c.state.draws[:, :, -1])
    assert sorted(a.posteriors) == [20, 40, 80]
    post = a.posteriors[80].posterior
    assert post["W"].dims == ("chain", "draw", "hidden", "feature")
    assert post["W"].shape == (3, 40, 2, 4)
    assert post["b"].dims == ("chain", "draw", "feature")
    assert post.attrs["n"] == 80 and post.attrs["sampler"] == "pt" and post.attrs["seed"] == 0
    assert post.attrs["beta"] == 1.0 and post.attrs["prior_sigma"] == 1.0
    # the derived loss is the empirical loss of the draws on x[:80]
    x = sample_inputs(80, 4, 0)
    np.testing.assert_allclose(post["empirical_loss"].values,
                               empirical_loss(post["W"].values, post["b"].values, x), rtol=1e-9)
    d = a.diagnostics
    R = len(a.state.ns)
    assert d["swap_accept"].dims == ("pair",) and d.sizes["pair"] == R - 1
    assert d["round_trips"].dims == ("copy",)
    assert d["divergences"].dims == ("rung",) and int(d["divergences"].sum()) == 0
    assert d["replica_index"].dims == ("copy", "draw", "rung") and d.sizes["draw"] == 40
    perm = np.sort(d["replica_index"].values, axis=-1)
    assert np.all(perm == np.arange(R))  # a permutation of the walkers at every draw
    assert sorted(a.all_posteriors()) == a.state.ns.tolist()
    # with a generous threshold the pilot inserts rungs; they are in the diagnostics, not the posteriors
    assert R > 3 and int(d["requested"].sum()) == 3


class _Stop(Exception):
    pass


def test_interrupt_save_load_resume_is_bit_identical(tmp_path):
    c = 4
    x = sample_inputs(60, c, 1)
    target = tms_target((15, 30, 60), x=x, features=c)
    total = 70
    state0 = init(target, 2, 5, warmup=25, leapfrog=4, thin=2)
    full = run(state0, target, total, chunk=20)

    path = tmp_path / "pt_state.npz"

    def checkpoint_then_stop(s):
        save_state(s, path)
        raise _Stop

    with pytest.raises(_Stop) as info:
        run(state0, target, total, chunk=30, callback=checkpoint_then_stop)
    assert info.value.pt_state.sweep == 30
    loaded = load_state(path)
    assert loaded.sweep == 30
    resumed = run(loaded, target, total - loaded.sweep, chunk=20)
    for name in ("draws", "draw_logdensity", "draw_replica", "positions", "logdensity", "grad",
                 "replica", "direction", "round_trips", "swap_accepts", "swap_attempts", "hmc_accept_sum",
                 "divergences", "step_size", "da"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    assert resumed.rng_state == full.rng_state
    assert full.draws.shape[1] == (total - 25) // 2 + 1


def test_sample_tms_pt_resumes_from_a_checkpoint(tmp_path):
    cfg = PTConfig(**{**SMALL, "min_swap_accept": 0.2, "sweeps": 60}, seed=2)
    full = sample_tms_pt(None, cfg, chunk=25)
    path = tmp_path / "ckpt.npz"
    calls = []

    def checkpoint(s):
        save_state(s, path)
        calls.append(s.sweep)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_tms_pt(None, cfg, chunk=25, callback=checkpoint)
    assert calls == [25, 50]
    resumed = resume_tms_pt(None, load_state(path))
    np.testing.assert_array_equal(resumed.state.draws, full.state.draws)
    np.testing.assert_array_equal(resumed.state.draw_replica, full.state.draw_replica)
    assert resumed.diagnostics.attrs["ladder_rounds"] == full.diagnostics.attrs["ladder_rounds"]
    a, b = resumed.posteriors[80].posterior, full.posteriors[80].posterior
    np.testing.assert_array_equal(a["W"].values, b["W"].values)


def test_warm_start_carries_the_final_state_to_a_finer_ladder():
    """A switch-refinement round starts each copy's replica at rung n from its final position at the
    nearest rung at or below n, with the adapted step sizes interpolated in log n; it runs no pilots,
    and the same start gives the same draws."""
    first = sample_tms_pt(None, PTConfig(**{**SMALL, "min_swap_accept": 0.2}, seed=3))
    ns = first.state.ns
    sub = (int(ns[0]), int(ns[0]) + 3, int(ns[1]), int(ns[1]) + 1)
    pos, eps = warm_start(first.state, sub)
    for k, src in enumerate((0, 0, 1, 1)):
        np.testing.assert_array_equal(pos[:, k], first.state.positions[:, src])
    assert eps[0] == pytest.approx(first.state.step_size[0]) and eps[2] == pytest.approx(first.state.step_size[1])
    lo, hi = sorted(first.state.step_size[:2])
    assert lo <= eps[1] <= hi
    cfg = PTConfig(**{**SMALL, "ns": sub, "min_swap_accept": 0.0, "warmup": 5}, seed=4)
    a, b = (sample_tms_pt(None, cfg, start=first.state) for _ in range(2))
    np.testing.assert_array_equal(a.state.draws, b.state.draws)
    assert a.state.ns.tolist() == list(sub) and a.diagnostics.attrs["ladder_rounds"] == "[]"
    cold = sample_tms_pt(None, cfg)
    assert not np.array_equal(cold.state.draws, a.state.draws)  # the start matters
    # a round returns (and labels) only the rungs it keeps; its draws do not depend on them
    kept = sample_tms_pt(None, cfg, start=first.state, rungs=sub[1:2])
    assert sorted(kept.posteriors) == [sub[1]] and sorted(a.posteriors) == list(sub)
    np.testing.assert_array_equal(kept.posteriors[sub[1]].posterior["W"].values, a.posteriors[sub[1]].posterior["W"].values)
    with pytest.raises(InputError, match="rungs"):
        sample_tms_pt(None, cfg, start=first.state, rungs=(sub[1] + 1,))
    with pytest.raises(InputError, match="min_swap_accept"):
        sample_tms_pt(None, PTConfig(**{**SMALL, "ns": sub, "min_swap_accept": 0.2}), start=first.state)
    with pytest.raises(InputError, match="copies"):
        sample_tms_pt(None, PTConfig(**{**SMALL, "ns": sub, "min_swap_accept": 0.0, "copies": 1}), start=first.state)


def test_seed_may_be_a_generator():
    target = tms_target((10, 20), x=sample_inputs(20, 3, 0), features=3)
    a = run(init(target, 2, np.random.default_rng(7), warmup=5, leapfrog=3), target, 15)
    b = run(init(target, 2, np.random.default_rng(7), warmup=5, leapfrog=3), target, 15)
    np.testing.assert_array_equal(a.draws, b.draws)
    with pytest.raises(InputError, match="seed"):
        init(target, 2, -1)


@pytest.mark.parametrize("change, word", [
    (dict(ns=()), "ns"),
    (dict(ns=(40, 20)), "ns"),
    (dict(ns=(20, 20)), "ns"),
    (dict(ns=(0, 20)), "ns"),
    (dict(beta=0.0), "beta"),
    (dict(beta=float("nan")), "beta"),
    (dict(prior_sigma=-1.0), "prior_sigma"),
    (dict(copies=0), "copies"),
    (dict(sweeps=0), "sweeps"),
    (dict(warmup=-1), "warmup"),
    (dict(leapfrog=0), "leapfrog"),
    (dict(min_swap_accept=1.0), "min_swap_accept"),
    (dict(target_accept=1.5), "target_accept"),
    (dict(max_rungs=1), "max_rungs"),
    (dict(seed=-3), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(population="yes"), "population"),
])
def test_invalid_config_raises_input_error(change, word):
    kw = dict(ns=(20, 40))
    kw.update(change)
    with pytest.raises(InputError, match=word) as info:
        PTConfig(**kw)
    assert "\n" not in str(info.value) and "expected" in str(info.value)


def test_bad_data_and_mismatched_target_raise_input_error():
    with pytest.raises(InputError, match="x"):
        sample_tms_pt(np.zeros((30, 4)), PTConfig(ns=(20, 40), features=4))
    target = tms_target((10, 20), x=sample_inputs(20, 3, 0), features=3)
    other = tms_target((10, 15), x=sample_inputs(20, 3, 0), features=3)
    with pytest.raises(InputError, match="ladder"):
        run(init(target, 1, 0), other, 1)


# ----------------------------------------------------------------------------------------------
# one rung = the TMS posterior: compare with PyMC NUTS


def _batch_se(v, batches=10):
    """Standard error of the mean of ``v (chain, draw)`` from batch means (10 per chain)."""
    C, D = v.shape
    m = v[:, : D // batches * batches].reshape(C, batches, -1).mean(axis=-1).ravel()
    return float(m.std(ddof=1) / np.sqrt(m.size))


@pytest.mark.slow
def test_single_rung_matches_pymc_nuts():
    import pymc as pm

    from bayes_tms.model import build_model

    c, n = 4, 50
    x = sample_inputs(n, c, 3)
    res = sample_tms_pt(x, PTConfig(ns=(n,), features=c, copies=8, sweeps=2000, warmup=500, seed=1))
    post_pt = res.posteriors[n].posterior
    with build_model(x):
        idata = pm.sample(draws=1000, tune=1000, chains=4, cores=1, random_seed=11,
                          progressbar=False, compute_convergence_checks=False)
    post_nuts = idata.posterior

    def invariants(post):
        W = post["W"].transpose("chain", "draw", "hidden", "feature").values
        b = post["b"].transpose("chain", "draw", "feature").values
        norms = np.sort(np.linalg.norm(W, axis=-2), axis=-1)  # sorted column norms (chain, draw, c)
        loss = empirical_loss(W, b, x)
        return {"loss": loss, **{f"norm{k}": norms[..., k] for k in range(c)},
                "bmin": np.sort(b, axis=-1)[..., 0]}

    a, b = invariants(post_pt), invariants(post_nuts)
    for key in a:
        ma, mb = a[key].mean(), b[key].mean()
        se = np.hypot(_batch_se(a[key]), _batch_se(b[key]))
        assert abs(ma - mb) < 4 * se + 1e-3, (key, ma, mb, se)
        # spreads agree too (a scale check the means alone would miss)
        sa, sb = a[key].std(), b[key].std()
        assert abs(sa - sb) < 0.15 * max(sa, sb) + 1e-3, (key, sa, sb)


def test_swapped_exchanges_every_pair_of_a_parity():
    """The strided exchange of neighbour rungs equals exchanging them by index, for any ladder size."""
    from bayes_tms.pt import _pairs, _swapped

    rng = np.random.default_rng(0)
    for R in range(1, 9):
        for parity in (0, 1):
            q = rng.normal(size=(3, R, 4))
            pairs = _pairs(R, parity)
            want = q.copy()
            want[:, pairs], want[:, pairs + 1] = q[:, pairs + 1], q[:, pairs]
            assert np.array_equal(_swapped(q, pairs), want)
            assert np.array_equal(_swapped(q[..., 0], pairs), want[..., 0])
