"""The compiled replica-exchange kernel (:mod:`bayes_tms.pt_kernel`) against the numpy reference.

The reference is :func:`comparisons.theory.nested_loss_grad`; the kernel must match it to 1e-12
relative in float64, agree with finite differences of its own loss, give bit-identical PT draws
whatever the number of BLAS / OpenMP / numba threads, and lead a PT run to the same phases as
the numpy path.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bayes_tms.pt import PTConfig, init, run, sample_tms_pt, tms_target
from bayes_tms.pt_kernel import (nested_loss_grad_compiled, population_loss_grad_compiled, tms_density_kernel,
                                 tms_leapfrog_kernel, tms_logdensity_and_grad)
from comparisons.errors import InputError
from comparisons.theory import (enumerate_phases, kgon_point, nested_loss_grad, nested_onehot_summary,
                                population_loss, population_loss_grad, sample_inputs)

ROOT = Path(__file__).resolve().parents[1]


def _assert_matches(got, ref, rtol=1e-12):
    """Elementwise ``|got - ref| <= rtol (|ref| + max|ref|)``: 1e-12 relative to each array's scale."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape
    scale = np.abs(ref) + np.max(np.abs(ref))
    assert np.all(np.abs(got - ref) <= rtol * scale), np.max(np.abs(got - ref) / scale)


def _compare(W, b, nested):
    L, gW, gb = nested_loss_grad(W, b, nested)
    for parallel in (False, True):
        L2, gW2, gb2 = nested_loss_grad_compiled(W, b, nested, parallel=parallel)
        _assert_matches(L2, L)
        _assert_matches(gW2, gW)
        _assert_matches(gb2, gb)
    np.testing.assert_array_equal(nested_loss_grad_compiled(W, b, nested, grad=False), L2)


@pytest.mark.parametrize("c", [4, 5, 6, 7, 8])
def test_kernel_matches_numpy_at_random_points(c):
    ns = (1, 7, 37, 100, 333, 999)  # not powers of two; a rung of one row
    x = sample_inputs(max(ns), c, c)
    nested = nested_onehot_summary(x, ns)
    rng = np.random.default_rng(c)
    for scale in (0.2, 1.0, 3.0):
        W = rng.normal(0, scale, size=(5, len(ns), 2, c))
        b = rng.normal(0, 0.3 * scale, size=(5, len(ns), c))
        _compare(W, b, nested)
    # r = 3 hidden units, no batch axis in front of the rungs
    _compare(rng.normal(size=(len(ns), 3, c)), rng.normal(0, 0.3, size=(len(ns), c)), nested)


@pytest.mark.parametrize("c", [4, 5, 6])
def test_kernel_matches_numpy_at_kgon_points(c):
    """The enumerated critical points: zero columns (a_ij = 0), switched-off and ``+`` biases."""
    ns = (3, 50, 150, 601)
    nested = nested_onehot_summary(sample_inputs(max(ns), c, 11), ns)
    phases = enumerate_phases(c)
    W = np.stack([np.broadcast_to(p.W, (len(ns), 2, c)) for p in phases])  # (phases, R, 2, c)
    b = np.stack([np.broadcast_to(p.b, (len(ns), c)) for p in phases])
    _compare(W, b, nested)
    # and the same points rotated (the loss is O(2)-invariant, its gradient rotates with W)
    t = 0.7
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    _compare(rot @ W, b, nested)


def test_kernel_edge_cases_match_numpy():
    """Exact zeros of W and b, a kink exactly on a sample, and a rung holding no sample of a feature."""
    c = 4
    x = np.zeros((6, c))
    x[np.arange(6), [0, 0, 1, 1, 2, 2]] = [0.2, 0.5, 0.25, 0.75, 0.1, 0.9]  # feature 3 never drawn
    ns = (1, 3, 6)
    nested = nested_onehot_summary(x, ns)
    W = np.zeros((4, 3, 2, c))
    b = np.zeros((4, 3, c))
    W[1, :, 0, 0] = 1.0
    b[1, :, 0] = -0.2  # output 0 on feature 0: the kink -b_0 / a_00 = 0.2 is exactly a sample
    W[2, :, 0] = [1.0, -1.0, 0.5, 0.0]
    b[2] = [-0.5, 0.5, 0.0, 0.3]  # kinks exactly on samples (mu = 0.5), a = 0 with b > 0 and b = 0
    W[3] = np.random.default_rng(0).normal(size=(3, 2, c))
    _compare(W, b, nested)


def test_kernel_gradient_matches_finite_differences():
    c = 6
    ns = (45, 130, 777)
    nested = nested_onehot_summary(sample_inputs(max(ns), c, 5), ns)
    rng = np.random.default_rng(9)
    W = rng.normal(0, 0.8, size=(3, len(ns), 2, c))
    b = rng.normal(0, 0.3, size=(3, len(ns), c))
    _, gW, gb = nested_loss_grad_compiled(W, b, nested)
    _assert_finite_differences(lambda W, b: nested_loss_grad_compiled(W, b, nested, grad=False), W, b, gW, gb, 1e-7)


def _assert_finite_differences(loss, W, b, gW, gb, atol):
    """Central differences of ``loss(W, b)`` (step 1e-6) against ``(gW, gb)``, entry by entry of the
    trailing ``(r, c)`` and ``(c,)``; one entry of every replica at once: each replica's loss depends on
    its own entries."""
    h = 1e-6
    for trailing, g, which in ((W.shape[-2:], gW, 0), (b.shape[-1:], gb, 1)):
        for idx in np.ndindex(trailing):
            e = np.zeros(trailing)
            e[idx] = h
            plus = loss(W + e, b) if which == 0 else loss(W, b + e)
            minus = loss(W - e, b) if which == 0 else loss(W, b - e)
            np.testing.assert_allclose(g[(..., *idx)], (plus - minus) / (2 * h), rtol=1e-5, atol=atol)


def _compare_targets(ref, fast, q):
    """The numpy and the compiled target's ``(log p, grad)`` at ``q`` agree, with two diverged states (an inf
    and a NaN entry, written into ``q``: density 0, gradient 0); returns the compiled pair."""
    q[0, 1, 2] = np.inf
    q[2, 0, 0] = np.nan
    (lp, g), (lp2, g2) = ref.logdensity_and_grad(q), fast.logdensity_and_grad(q)
    finite = np.isfinite(lp)
    assert (~finite).sum() == 2 and np.array_equal(finite, np.isfinite(lp2)) and np.all(lp2[~finite] == -np.inf)
    _assert_matches(lp2[finite], lp[finite])
    _assert_matches(g2, g)
    return lp2, g2


def test_fused_log_density_matches_the_numpy_target():
    c = 5
    ns = (20, 60, 180)
    x = sample_inputs(max(ns), c, 2)
    ref = tms_target(ns, x=x, features=c, beta=0.5, prior_sigma=1.5, kernel="numpy")
    fast = tms_target(ns, x=x, features=c, beta=0.5, prior_sigma=1.5, kernel="compiled")
    q = np.random.default_rng(3).normal(size=(4, len(ns), 3 * c))
    lp2, g2 = _compare_targets(ref, fast, q)
    # the public one-call form gives the same numbers
    nb = np.asarray(ns) * 0.5
    lp3, g3 = tms_logdensity_and_grad(q, nested_onehot_summary(x, ns), 2, nb, 1 / 1.5**2)
    np.testing.assert_array_equal(lp3, lp2)
    np.testing.assert_array_equal(g3, g2)


def test_compiled_trajectory_gives_the_bits_of_the_step_by_step_loop():
    """``tms_target(kernel="compiled").integrate`` (whole leapfrog trajectories in one call) changes
    the speed, not the numbers: the same run with HMC's own loop over the density is bit-identical."""
    c = 5
    ns = (15, 40, 100)
    target = tms_target(ns, x=sample_inputs(max(ns), c, 1), features=c, kernel="compiled")
    assert target.integrate is not None
    loop = target._replace(integrate=None)
    # prior starts at n = 100 diverge in early warm-up: the non-finite path is exercised too
    a = run(init(target, 3, 7, warmup=30), target, 80)
    b = run(init(loop, 3, 7, warmup=30), loop, 80)
    for name in ("draws", "draw_logdensity", "draw_replica", "step_size", "hmc_accept_sum", "positions", "grad"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


# ----------------------------------------------------------------------------------------------
# the population loss

def _compare_population(W, b):
    L, (gW, gb) = population_loss(W, b), population_loss_grad(W, b)
    for parallel in (False, True):
        L2, gW2, gb2 = population_loss_grad_compiled(W, b, parallel=parallel)
        _assert_matches(L2, L)
        _assert_matches(gW2, gW)
        _assert_matches(gb2, gb)
    np.testing.assert_array_equal(population_loss_grad_compiled(W, b, grad=False), L2)


@pytest.mark.parametrize("c", [3, 6, 8])
def test_population_kernel_matches_numpy_at_random_points(c):
    rng = np.random.default_rng(c)
    for scale in (0.2, 1.0, 3.0):
        _compare_population(rng.normal(0, scale, size=(7, 5, 2, c)), rng.normal(0, 0.3 * scale, size=(7, 5, c)))
    _compare_population(rng.normal(size=(3, c)), rng.normal(0, 0.3, size=c))  # r = 3, no batch axis


@pytest.mark.parametrize("c", [4, 5, 6, 7])
def test_population_kernel_matches_numpy_at_kgon_points(c):
    """The enumerated critical points and decorated k-gons: zero columns (a_ij = 0), switched-off and
    ``+`` biases, kinks at the ends of [0, 1]; and the same points rotated."""
    points = [(p.W, p.b) for p in enumerate_phases(c)]
    points += [kgon_point(k, c, 1.1, -0.1, sigma=min(1, c - k), phi=min(1, k - 1), rotation=0.3)
               for k in range(1, c + 1)]
    W = np.stack([p[0] for p in points])
    b = np.stack([p[1] for p in points])
    _compare_population(W, b)
    t = 0.7
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    _compare_population(rot @ W, b)


def test_population_kernel_edge_cases_match_numpy():
    """a = 0 with b > 0, b = 0 and b < 0; kinks inside [0, 1], exactly at 0 and 1, and beyond either end."""
    c = 4
    W = np.zeros((6, 2, c))
    b = np.zeros((6, c))
    b[0] = [0.3, 0.0, -0.2, 1e-300]  # W = 0: a = 0 everywhere, the bias alone decides
    W[1, 0] = [1.0, 0.0, 0.0, 0.0]
    b[1] = [-1.0, 0.0, -0.5, 0.0]  # a_00 = 1: kink at mu = 1 (b = -1), other columns a = 0
    W[2, 0] = [1.0, -1.0, 0.5, 0.0]
    b[2] = [-2.0, 2.0, 0.0, 0.3]  # kinks beyond 1 (a > 0: nothing active; a < 0: all active), at 0
    W[3, 0] = [1.0, -1.0, 2.0, 0.5]
    b[3] = [0.5, -0.5, 0.1, -0.1]  # kinks below 0 (a > 0: all active; a < 0: none), and inside
    W[4, 0] = [1.0, 1.0, 0.0, 0.0]
    W[4, 1] = [0.0, 0.0, 1.0, -1.0]
    b[4] = [-0.3, 0.3, -0.3, 0.3]  # mixed signs of a, kinks inside [0, 1]
    W[5] = np.random.default_rng(0).normal(size=(2, c))
    _compare_population(W, b)


def test_population_kernel_gradient_matches_finite_differences():
    c = 6
    rng = np.random.default_rng(9)
    W = rng.normal(0, 0.8, size=(4, 2, c))
    b = rng.normal(0, 0.3, size=(4, c))
    _, gW, gb = population_loss_grad_compiled(W, b)
    _assert_finite_differences(lambda W, b: population_loss_grad_compiled(W, b, grad=False), W, b, gW, gb, 1e-8)


def test_population_target_compiled_matches_numpy_and_loops_agree():
    """The population ladder's fused log density against the numpy target (non-finite states: density 0,
    gradient 0), and the serial and threaded loops give the same bits, for the density and the leapfrog."""
    c, ns = 6, (20, 60, 180, 540)
    ref = tms_target(ns, features=c, beta=0.5, prior_sigma=1.5, population=True, kernel="numpy")
    fast = tms_target(ns, features=c, beta=0.5, prior_sigma=1.5, population=True, kernel="compiled")
    assert fast.integrate is not None and ref.integrate is None
    q = np.random.default_rng(3).normal(size=(5, len(ns), 3 * c))
    lp2, _ = _compare_targets(ref, fast, q)
    nb, inv_var = np.asarray(ns) * 0.5, 1 / 1.5**2
    outs = [tms_density_kernel(None, 2, nb, inv_var, features=c, parallel=par)(q) for par in (False, True)]
    for a, b in zip(*outs):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(outs[0][0], lp2)
    rng = np.random.default_rng(4)
    q0 = rng.normal(0, 0.5, size=(5, len(ns), 3 * c))
    p0 = rng.normal(size=q0.shape)
    g0 = fast.logdensity_and_grad(q0)[1]
    eps = rng.uniform(0.01, 0.05, size=q0.shape[:-1])
    runs = [tms_leapfrog_kernel(None, 2, nb, inv_var, features=c, parallel=par)(q0, p0, g0, eps, 7)
            for par in (False, True)]
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


def test_population_pt_same_seed_same_draws_and_the_bits_of_the_step_by_step_loop():
    c, ns = 5, (15, 40, 100)
    target = tms_target(ns, features=c, population=True)
    loop = target._replace(integrate=None)
    a = run(init(target, 3, 7, warmup=30), target, 60)
    a2 = run(init(target, 3, 7, warmup=30), target, 60)
    b = run(init(loop, 3, 7, warmup=30), loop, 60)
    for name in ("draws", "draw_logdensity", "draw_replica", "step_size", "hmc_accept_sum", "positions", "grad"):
        assert getattr(a, name).tobytes() == getattr(a2, name).tobytes() == getattr(b, name).tobytes(), name


def test_kernel_bad_input_raises_input_error():
    c = 4
    nested = nested_onehot_summary(sample_inputs(50, c, 0), (10, 50))
    with pytest.raises(InputError, match="expected shape"):
        tms_logdensity_and_grad(np.zeros((3, 12)), nested, 2, np.ones(2), 1.0)  # 3 rungs, 2 in the ladder
    with pytest.raises(InputError, match="expected shapes"):
        nested_loss_grad_compiled(np.zeros((2, 2, c + 1)), np.zeros((2, c + 1)), nested)
    with pytest.raises(InputError, match="features"):
        tms_density_kernel(None, 2, np.ones(2), 1.0)  # the population loss needs c
    with pytest.raises(InputError, match="expected shapes"):
        population_loss_grad_compiled(np.zeros((3, 2, 4)), np.zeros((2, 4)))  # batch shapes differ
    with pytest.raises(InputError, match="kernel"):
        PTConfig(ns=(10, 20), kernel="fortran")
    with pytest.raises(InputError, match="kernel"):
        tms_target((10, 50), x=sample_inputs(50, c, 0), features=c, kernel="C")


# ----------------------------------------------------------------------------------------------
# same seed, same result, whatever the thread counts

_RUN = textwrap.dedent("""
    import sys, numpy as np
    import bayes_tms.pt_kernel as K
    from bayes_tms.pt import PTConfig, sample_tms_pt
    K.PARALLEL_MIN_BATCH = 1  # every kernel call runs over numba's threads
    population = sys.argv[2] == "population"
    res = sample_tms_pt(None, PTConfig(ns=(12, 25, 50), features=5, copies=3, sweeps=30, warmup=20,
                                 leapfrog=5, pilot_sweeps=20, pilot_warmup=10, min_swap_accept=0.4, seed=4,
                                 population=population))
    post = res.posteriors[50].posterior
    np.savez(sys.argv[1], draws=res.state.draws, lp=res.state.draw_logdensity, ns=res.state.ns,
             loss=post["population_loss" if population else "empirical_loss"].values)
""")


@pytest.mark.parametrize("loss", ["empirical", "population"])
def test_pt_draws_bit_identical_with_one_and_two_threads(tmp_path, loss):
    out = {}
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   NUMBA_NUM_THREADS=threads, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", _RUN, str(path), loss], check=True, env=env, cwd=ROOT, timeout=300)
        with np.load(path) as f:
            out[threads] = {k: f[k] for k in f.files}
    assert len(out["1"]["ns"]) > 3  # the ladder refinement ran (and inserted rungs)
    for k in out["1"]:
        assert out["1"][k].tobytes() == out["2"][k].tobytes(), k


# ----------------------------------------------------------------------------------------------
# both kernels, one answer

def _switches(kernel: str, c: int = 4, ns=(10, 25, 60, 150, 400), population: bool = False):
    """Family fractions and family switches of a tiny PT run (hull rule: every draw labelled)."""
    from bayes_tms.occupancy import occupancy_table, transitions

    res = sample_tms_pt(None, PTConfig(ns=ns, features=c, copies=4, sweeps=400, warmup=150, thin=2, pilot_sweeps=60,
                                       pilot_warmup=60, seed=2, kernel=kernel, classifier="hull",
                                       population=population))
    assert all(idata.posterior.attrs["classifier"] == "hull" for idata in res.posteriors.values())
    from occupancy_toys import reported_cells

    occ, reps = occupancy_table(res.posteriors, B=200, seed=0, level="family")
    frac = {(r["n"], str(r["phase"])): r["fraction"] for r in reported_cells(occ)}
    return frac, transitions(reps, features=c, level="family")


def test_numpy_and_compiled_kernels_give_the_same_switch():
    """Not bit-identical (the kernels round differently), but the same phases and close fractions."""
    frac_np, sw_np = _switches("numpy")
    frac_c, sw_c = _switches("compiled")
    moves = [list(zip(sw["from"].values, sw["to"].values)) for sw in (sw_np, sw_c)]
    assert moves[0] == moves[1] == [("3", "4")]
    a, b = sw_np.isel(transition=0), sw_c.isel(transition=0)
    assert a["lower"] <= b["n"] <= a["upper"] and b["lower"] <= a["n"] <= b["upper"], (a, b)
    for key in set(frac_np) | set(frac_c):
        assert abs(frac_np.get(key, 0.0) - frac_c.get(key, 0.0)) < 0.1, (key, frac_np, frac_c)


def test_population_pt_numpy_and_compiled_kernels_give_the_same_switch():
    """The population loss: each kernel's family switch lies within the other's interval."""
    frac_np, sw_np = _switches("numpy", population=True)
    frac_c, sw_c = _switches("compiled", population=True)
    moves = [list(zip(sw["from"].values, sw["to"].values)) for sw in (sw_np, sw_c)]
    assert moves[0] == moves[1] and len(moves[0]) >= 1, moves
    for t in range(len(moves[0])):
        a, b = sw_np.isel(transition=t), sw_c.isel(transition=t)
        assert a["lower"] <= b["n"] <= a["upper"] and b["lower"] <= a["n"] <= b["upper"], (a, b)
    for key in set(frac_np) | set(frac_c):
        assert abs(frac_np.get(key, 0.0) - frac_c.get(key, 0.0)) < 0.1, (key, frac_np, frac_c)


_ADAPTIVE = textwrap.dedent("""
    import sys, numpy as np
    import bayes_tms.pt_kernel as K
    from bayes_tms.pt import PTConfig, sample_tms_pt
    K.ADAPTIVE = sys.argv[2] == "adaptive"
    K.PROBE_CALLS, K.REPROBE_EVERY = 2, 6  # probe often: both loops run many times
    used = []
    real = K._LoopChooser.choose
    K._LoopChooser.choose = lambda self, batch: used.append(real(self, batch)[0]) or (used[-1], True)
    res = sample_tms_pt(None, PTConfig(ns=(12, 25, 50), features=5, copies=3, sweeps=30, warmup=20,
                                 leapfrog=5, pilot_sweeps=20, pilot_warmup=10, seed=4))
    np.savez(sys.argv[1], draws=res.state.draws, lp=res.state.draw_logdensity, threads=np.array(used))
""")


def test_the_adaptive_loop_choice_leaves_the_draws_unchanged(tmp_path):
    """The leapfrog kernel picks its serial or threaded loop by measured speed, call by call: with two
    numba threads and frequent probes both loops run, and the draws are those of the serial loop."""
    out = {}
    for mode in ("serial", "adaptive"):
        env = dict(os.environ, NUMBA_NUM_THREADS="2",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        path = tmp_path / f"{mode}.npz"
        subprocess.run([sys.executable, "-c", _ADAPTIVE, str(path), mode], check=True, env=env, cwd=ROOT, timeout=300)
        with np.load(path) as f:
            out[mode] = {k: f[k] for k in f.files}
    assert not out["serial"]["threads"].any() and out["adaptive"]["threads"].any()
    for k in ("draws", "lp"):
        assert out["serial"][k].tobytes() == out["adaptive"][k].tobytes(), k


#: sha256 of a tiny PT run's draws, log densities, replica ids, ladder, final positions and step sizes,
#: recorded with the sampler loop of main 7753dd0 (before the loop keeps one live generator per run
#: and the leapfrog picks its loop by speed). Same numpy and numba on the same instruction set: the
#: same bits (the module docstring of bayes_tms.pt says what "same seed, same result" covers).
STORED_DIGEST = "f7f3e18d70e07c4ebe67931ca57e77f10247ac41ec57c7cd681b98f7f7a1f3f9"


def test_draws_match_the_stored_expectation_of_the_earlier_loop():
    import hashlib

    res = sample_tms_pt(None, PTConfig(ns=(12, 25, 50), features=5, copies=3, sweeps=30, warmup=20, leapfrog=5,
                                 pilot_sweeps=20, pilot_warmup=10, min_swap_accept=0.4, seed=4), chunk=7)
    st = res.state
    h = hashlib.sha256()
    for a in (st.draws, st.draw_logdensity, st.draw_replica, st.ns, st.positions, st.step_size):
        h.update(np.ascontiguousarray(a).tobytes())
    assert h.hexdigest() == STORED_DIGEST


def test_a_run_interrupted_inside_a_sweep_resumes_to_the_same_draws():
    """run() keeps one live generator: an exception in the middle of a sweep hands back the state (and
    generator position) after the last finished sweep, so resuming from it gives the same draws."""
    from comparisons.theory import sample_inputs

    x = sample_inputs(50, 4, 1)
    target = tms_target((12, 25, 50), x=x, features=4)
    state0 = init(target, 2, 5, warmup=10, leapfrog=4)
    full = run(state0, target, 40, chunk=15)
    calls = {"n": 0}

    def integrate(*args):
        calls["n"] += 1
        if calls["n"] == 23:
            raise KeyboardInterrupt
        return target.integrate(*args)

    with pytest.raises(KeyboardInterrupt) as err:
        run(state0, target._replace(integrate=integrate), 40, chunk=15)
    cut = err.value.pt_state
    assert cut.sweep == 22
    resumed = run(cut, target, 40 - cut.sweep, chunk=15)
    assert resumed.draws.tobytes() == full.draws.tobytes() and resumed.rng_state == full.rng_state
