"""Measured learning coefficients on the exact population loss (bayes_tms.llc).

Known answers, with the code path used for the TMS phases (same ``LossTarget``, same NUTS op, same
subset simulation):

- ``regular``: ``x1^2 + 2 x2^2 + x3^2/2`` (+ a flat ``x4``), ``lambda = 3/2``. Under the ``N(0, 1)``
  prior each term is Gaussian: ``E_m[m k x^2] = m k / (2 m k + 1)`` exactly.
- ``wall``: ``relu(x)^2 + y^2 + |z|``, ``lambda = 0 + 1/2 + 1 = 3/2``. ``relu(x)^2`` is flat on
  ``x < 0``: ``Z_x(m) = 1/2 + (1/2) (2m + 1)^{-1/2}`` and ``E_m[m x_+^2] = (m/2) (2m+1)^{-3/2} / Z_x
  = (2 sqrt(2m))^{-1} + O(1/m)``: the half-flat direction counts 0, with an ``m^{-1/2}``
  correction (the extrapolation form used for the wall phases). ``|z|`` counts 1:
  ``V_z(eps) = P(|z| < eps) ~ 2 phi(0) eps``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_tms.llc import (MEASURE_DEFAULTS, choose_fit, extrapolate, neighbourhood_search, nuts_lambda,
                           tms_target, volume_fit, volume_scaling)
from bayes_tms.llc.measure import VOLUME_RUN_KEYS, jsonable
from comparisons.docs import METHODS_AGREE_SE
from comparisons.errors import InputError
from comparisons.theory import child_sequence, dominant_intervals, enumerate_phases
from comparisons.theory.kgons import measured_llc_overrides, measured_llc_path
from llc_toys import toy_exact_lambda, toy_target

FAST_NUTS = dict(chains=2, draws=400, warmup=200)


def _phase(c, label):
    return next(p for p in enumerate_phases(c) if p.label == label)


def test_toy_exact_lambda_matches_closed_forms():
    for m in (1e2, 1e4, 1e6):
        reg = sum(m * k / (2 * m * k + 1) for k in (1.0, 2.0, 0.5))
        assert toy_exact_lambda("regular", m) == pytest.approx(reg, rel=1e-8)
        zx = 0.5 + 0.5 / np.sqrt(2 * m + 1)
        relu = 0.5 * m * (2 * m + 1) ** -1.5 / zx
        y = m / (2 * m + 1)
        assert toy_exact_lambda("wall", m) - 1.0 == pytest.approx(relu + y, abs=2e-3 + 2 / m)
    assert toy_exact_lambda("wall", 1e8) == pytest.approx(1.5, abs=1e-3)
    for m in (1e2, 1e4, 1e6):  # one-sided quadratics x^2 (x > 0), x^2/4 (x < 0): half-normal pieces
        ra, rb = 1 + 2 * m, 1 + 0.5 * m
        term = (m * ra**-1.5 + 0.25 * m * rb**-1.5) / (ra**-0.5 + rb**-0.5)
        assert toy_exact_lambda("jump", m) == pytest.approx(11 * term, rel=1e-8)


@pytest.mark.parametrize("toy, m, max_se", [("regular", 1e4, 0.12), ("wall", 1e3, 0.12), ("jump", 1e4, 0.2)])
def test_nuts_matches_exact_finite_m(toy, m, max_se):
    est = nuts_lambda(toy_target(toy), m, seed=3, **FAST_NUTS)
    exact = toy_exact_lambda(toy, m)
    assert est.se < max_se
    assert abs(est.llc - exact) < 4 * est.se, (est.llc, est.se, exact)


@pytest.mark.parametrize("toy", ["regular", "wall"])
def test_volume_scaling_recovers_three_halves(toy):
    runs = [volume_scaling(toy_target(toy), particles=500, eps_fit=(1e-7, 1e-3), rng=s)["llc"]
            for s in range(3)]
    mean, se = np.mean(runs), np.std(runs, ddof=1) / np.sqrt(3)
    assert abs(mean - 1.5) < 4 * se + 0.05, runs
    assert abs(mean - 1.0) > 0.25 and abs(mean - 2.0) > 0.25  # distinguishable from neighbours


def test_importance_sampling_matches_exact_on_a_wall_toy_and_refuses_flat_directions():
    """The third method: no Markov chain; exact finite-m value on the Hessian-jump toy; a flat
    direction leaves its proposal without scale, which it refuses in one line."""
    from bayes_tms.llc import importance_lambda

    exact = toy_exact_lambda("jump", 1e4)
    res = importance_lambda(toy_target("jump"), 1e4, samples=200_000, rng=1)
    assert res["samples"] == 200_000 and res["se"] < 0.03 and res["ess"] > 1000
    assert abs(res["llc"] - exact) < 4 * res["se"], (res, exact)
    assert importance_lambda(toy_target("jump"), 1e4, samples=200_000, rng=1) == res
    with pytest.raises(InputError, match="expected a Hessian of full rank") as exc:
        importance_lambda(toy_target("regular"), 1e4, samples=1000, chunk=1000)
    assert "\n" not in str(exc.value)


def test_hessian_from_gradient_sees_the_jump():
    from comparisons.theory import hessian_from_gradient

    H, wall = hessian_from_gradient(toy_target("jump").grad, np.zeros(11))
    assert wall and np.allclose(H, np.eye(11) * 1.25)  # mean of the one-sided 2 and 1/2
    H, wall = hessian_from_gradient(lambda x: np.array([2 * x[0] + x[1], x[0] + 4 * x[1]]), np.zeros(2))
    assert not wall and np.allclose(H, [[2.0, 1.0], [1.0, 4.0]])


def test_extrapolate_recovers_synthetic_limit():
    ms = np.logspace(3, 8, 6)
    lam = 6.2 + 30 / np.sqrt(ms)
    fit = extrapolate(ms, lam, np.full(6, 0.05))
    assert fit["llc"] == pytest.approx(6.2, abs=1e-9) and fit["slope"] == pytest.approx(30)
    with pytest.raises(InputError, match="form: expected one of"):
        extrapolate(ms, lam, np.ones(6), form="cubic")


def test_extrapolate_is_unbiased_when_the_errors_grow_with_the_estimates():
    """Each point's SE is an estimate that grows with the point (as ``sd/sqrt(ESS)`` of a skewed
    ``m (L - L*)`` does): the fit must not favour the low points. Known answer: the true mean 1."""
    rng = np.random.default_rng(3)
    ms = np.logspace(4, 8, 5)
    fits, ses = [], []
    for _ in range(2000):
        lam = rng.gamma(4.0, 0.25, size=5)  # mean 1, skewed
        se = 0.5 * lam / np.sqrt(4.0)  # grows with the estimate
        f = extrapolate(ms, lam, se, "const")
        fits.append(f["llc"])
        ses.append(f["se"])
    fits = np.array(fits)
    assert abs(fits.mean() - 1.0) < 4 * fits.std() / np.sqrt(len(fits))
    assert np.median(ses) == pytest.approx(fits.std(), rel=0.35)  # the SE says how far a fit scatters


def test_choose_fit_keeps_a_resolved_slope_and_drops_noise():
    ms = np.logspace(4, 8, 5)
    se = np.full(5, 0.1)
    resolved = {f: extrapolate(ms, 6.2 + 300 / np.sqrt(ms), se, f) for f in ("inv_sqrt", "const")}
    assert choose_fit(resolved)["form"] == "inv_sqrt" and choose_fit(resolved)["llc"] == pytest.approx(6.2)
    noise = 8.5 + se * np.array([0.5, -1.0, 0.3, 0.8, -1.2])  # flat curve, unresolved slope
    fits = {f: extrapolate(ms, noise, se, f) for f in ("inv_sqrt", "const")}
    best = choose_fit(fits)
    assert best["form"] == "const" and best["llc"] == pytest.approx(np.mean(noise))
    assert best["se"] < fits["inv_sqrt"]["se"] and best["slope"] == 0.0


@pytest.mark.parametrize("c, label", [(6, "3--"), (6, "4"), (6, "5"), (5, "3--"), (4, "3")])
def test_role_coordinates_map_onto_the_basin_with_the_right_jacobian(c, label):
    """NUTS's coordinates (``LossTarget.coords``): ``z0`` maps to ``w*``; any move of the
    transformed (dead and present-off) slots stays in the basin, however large; the log Jacobian
    equals ``log |det dw/dz|`` by central differences."""
    from bayes_tms.llc import ROLE_DEAD, ROLE_OFF

    p = _phase(c, label)
    t = tms_target(p.W, p.b)
    w, _ = t.coords(t.z0, np)
    assert np.allclose(w, t.w0, atol=1e-9)
    roles = np.array(t.info["roles"])
    keep = np.array([i for i in range(3 * c) if i != c])
    moved = np.isin(keep % c, np.flatnonzero(np.isin(roles, (ROLE_DEAD, ROLE_OFF))))
    rng = np.random.default_rng(0)
    for scale in (0.3, 1.0, 3.0):  # (far beyond, |W| rounds onto its edge in floating point)
        for _ in range(200):
            z = t.z0 + scale * rng.standard_normal(t.d) * moved
            assert t.inside(t.coords(z, np)[0]), z
    for _ in range(5):
        z = t.z0 + 0.7 * rng.standard_normal(t.d) * moved
        h = 1e-6
        jac = np.stack([(t.coords(z + h * e, np)[0] - t.coords(z - h * e, np)[0]) / (2 * h)
                        for e in np.eye(t.d)], axis=1)
        assert float(t.coords(z, np)[1]) == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-5)


def test_search_finds_escape_with_loose_plus_restriction():
    """The check can fail: with ``|W_+| < 0.5`` a + column grows into a fifth vertex at 4+."""
    p = _phase(6, "4+")
    loose = neighbourhood_search(tms_target(p.W, p.b, plus_norm_max=0.5), starts=20, iters=100,
                                 radii=(0.5,), rng=0)
    assert loose["min_excess"] < -1e-3


@pytest.mark.parametrize("label", ["4", "4+", "4++"])
def test_search_finds_no_lower_point_for_shipped_restriction(label):
    p = _phase(6, label)
    res = neighbourhood_search(tms_target(p.W, p.b), starts=40, iters=150, radii=(0.05, 0.2, 0.5), rng=1)
    assert res["min_excess"] > -1e-9
    # ``starts`` is the setting (what a rerun compares to reuse the search), ``valid_starts`` the
    # starts that lay in the region; wide radii leave some outside
    assert res["starts"] == 40 and 0 < res["valid_starts"] <= 40
    if label == "4++":
        assert res["valid_starts"] < 40


def test_bad_inputs_one_line():
    p = _phase(6, "4")
    for kwargs, match in [(dict(dead_bias_max=0.1), "dead_bias_max: expected a number <= 0"),
                          (dict(plus_norm_max=0.7), "plus_norm_max: expected a number in")]:
        with pytest.raises(InputError, match=match) as exc:
            tms_target(p.W, p.b, **kwargs)
        assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="toy: expected one of"):
        toy_target("cubic")
    with pytest.raises(InputError, match="m: expected a finite number > 0"):
        nuts_lambda(toy_target("regular"), -1.0)


# -- the shipped table ---------------------------------------------------------------------------

def _table(c=6):
    path = measured_llc_path(c)
    if not path.is_file():
        pytest.skip(f"no shipped table for c = {c}")
    return json.loads(path.read_text())


def test_shipped_table_volume_levels_reproduce():
    """The first levels of the stored volume curve are regenerated exactly from the stored seed."""
    table = _table()
    rec = table["phases"][0]
    p = _phase(6, rec["phase"])
    kw = {k: rec["volume_settings"][k] for k in VOLUME_RUN_KEYS}  # the record's own runs
    target = tms_target(p.W, p.b)
    stream = child_sequence(table["seed"], "llc", "population", target.name, "volume", 0)
    res = volume_scaling(target, rng=np.random.default_rng(stream), max_levels=4, **kw)
    np.testing.assert_allclose(res["eps"], rec["volume_curves"][0]["eps"][:4], rtol=1e-10)
    np.testing.assert_allclose(res["log_v"], rec["volume_curves"][0]["log_v"][:4], rtol=1e-10)


def test_theory_uses_measured_only_where_exact_missing():
    _table()
    phases = enumerate_phases(6)
    over = measured_llc_overrides(phases)
    for p in phases:
        if p.label in over:
            assert p.llc is None and over[p.label] == p.llc_measured
        if p.llc is not None:
            assert p.label not in over


# -- slow: a regular TMS phase measured end to end -----------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("label", ["6", "5+", "5"])
def test_regular_phase_measured_within_two_percent(label):
    """The shipped settings on another seed: the issue's target, 2% of the exact rank/2."""
    from bayes_tms.llc import measure_phase

    p = _phase(6, label)
    kw = {**MEASURE_DEFAULTS, "search": dict(starts=40, iters=100)}
    rec = measure_phase(tms_target(p.W, p.b, exact=p.llc), seed=11, **kw)
    assert abs(rec["llc_measured"] - p.llc) < 0.02 * p.llc, rec["fit"]
    assert abs(rec["volume_llc"] - p.llc) < 3 * rec["volume_se"] + 0.02 * p.llc, rec["volume_runs"]
    assert rec["neighbourhood"]["min_excess"] > -1e-9


def test_cli_shows_measured_values(capsys):
    from comparisons.cli import main

    table = _table()
    measured = {r["phase"]: r["llc_measured"] for r in table["phases"]}
    assert main(["kgons", "-c", "6", "--format", "json"]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)}
    for label, value in measured.items():
        assert rows[label]["llc_measured"] == value and rows[label]["llc_method"]
    assert rows["3+++"]["llc_measured"] is None or "3+++" in measured
    assert main(["theory", "-c", "6", "--format", "json"]) == 0
    used = json.loads(capsys.readouterr().out)["llc_used"]
    for label, value in measured.items():
        if rows[label]["llc"] is None:
            assert used[label] == {"llc": value, "source": "measured"}
        else:
            assert used[label]["source"] == "exact"
    assert main(["theory", "-c", "6"]) == 0
    assert "measured on the population loss (marked m" in capsys.readouterr().out


def test_measure_phase_reuses_unchanged_parts():
    from bayes_tms.llc import measure_phase

    kw = dict(ms=(1e3, 1e4, 1e5), nuts=dict(chains=2, draws=60, warmup=60),
              volume=dict(particles=100, eps_min=1e-4, eps_fit=(1e-4, 1e-2)), volume_repeats=2,
              search=dict(starts=5, iters=5))
    target = toy_target("regular")
    first = measure_phase(target, seed=2, **kw)
    assert first["reused"] == [] and np.isfinite(first["llc_measured"]) and np.isfinite(first["volume_llc"])
    kw["volume"] = dict(kw["volume"], mh_steps=30)
    second = measure_phase(target, seed=2, reuse=jsonable(first), **kw)
    assert second["reused"] == ["search", "nuts"]
    assert second["curve"] == jsonable(first["curve"]) and second["volume_runs"] != first["volume_runs"]
    other = jsonable(second)
    other["settings"]["nuts_coordinates"] = "another parametrization"  # the NUTS curve alone is redone
    third = measure_phase(target, seed=2, reuse=other, **kw)
    assert third["reused"] == ["search", "volume"] and third["volume_runs"] == second["volume_runs"]
    # a new fit range or form refits the stored curves of every repeat, with no new run
    kw["volume"] = dict(kw["volume"], eps_fit=(1e-4, 1e-3), fit="linear")
    fourth = measure_phase(target, seed=2, reuse=jsonable(third), **kw)
    assert fourth["reused"] == ["search", "nuts", "volume"] and fourth["volume_curves"] == third["volume_curves"]
    refit = [volume_fit(x["eps"], x["log_v"], (1e-4, 1e-3), "linear") for x in third["volume_curves"]]
    assert fourth["volume_runs"] == refit != third["volume_runs"]
    assert fourth["volume_llc"] == pytest.approx(np.mean(refit))


def test_volume_fit_below_a_secondary_minimum_recovers_the_slope():
    """A known answer: ``V(eps) = eps^4`` plus a secondary minimum of excess 3e-5 holding 100 times
    that mass above it. log V falls steeply where eps passes the excess; a fit over (1e-7, 1e-4)
    with the sqrt term bends to the step, the linear fit below 1e-5 gives 4."""
    eps = np.geomspace(1e-3, 1e-7, 120)
    log_v = 4 * np.log(eps) + np.log1p(100 * (eps > 3e-5) * (eps / 3e-5) ** 4)
    assert volume_fit(eps, log_v, (1e-7, 1e-5), "linear") == pytest.approx(4.0, abs=1e-9)
    assert abs(volume_fit(eps, log_v, (1e-7, 1e-4), "sqrt") - 4.0) > 0.3
    assert np.isnan(volume_fit(eps, log_v, (1e-9, 1e-8)))  # fewer than 4 levels in range
    assert np.isnan(volume_fit(np.r_[eps, -1e-9], np.r_[log_v, -80.0], (1e-7, 1e-5)))  # a point below L*
    with pytest.raises(InputError, match="fit: expected one of sqrt, linear"):
        volume_scaling(toy_target("regular"), fit="quadratic")


def test_top_up_rounds_reach_the_relative_se_target_and_are_reused():
    """Where the first pass misses ``rse_target``, further passes on their own streams are pooled
    with it by draw counts, each sized from the pooled fit before it; a rerun reuses every round."""
    from bayes_tms.llc import FITS, measure_phase
    from bayes_tms.llc.tempered import TOP_UP_ROUNDS, pool_passes, top_up_draws

    assert top_up_draws({"llc": 1.0, "se": 0.02}, 400, 0.03) == 0
    assert top_up_draws({"llc": 1.0, "se": 0.036}, 400, 0.03) == 350  # 400 ((0.036/0.027)^2 - 1) = 311
    assert top_up_draws({"llc": 1.0, "se": 0.2}, 400, 0.03) == 1600  # capped at 4x
    assert top_up_draws({"llc": 1.0, "se": 0.03004}, 700, 0.03) == 200  # a second round: 700 x 0.238
    assert top_up_draws({"llc": 1.0, "se": 0.2}, 700, 0.03, cap=1600) == 1600
    a = [{"m": 1.0, "llc": 1.0, "se": 0.1, "ess": 10.0, "divergences": 1, "failed_chains": 0, "wall_s": 1.0}]
    b = [{"m": 1.0, "llc": 2.0, "se": 0.05, "ess": 30.0, "divergences": 0, "failed_chains": 0, "wall_s": 3.0}]
    pooled = pool_passes(a, b, 100, 300)[0]
    assert pooled["llc"] == pytest.approx(1.75) and pooled["se"] == pytest.approx(np.hypot(0.025, 0.0375))
    assert pooled["ess"] == 40.0 and pooled["wall_s"] == 4.0

    kw = dict(ms=(1e3, 1e4, 1e5), nuts=dict(chains=2, draws=60, warmup=60),
              volume=dict(particles=100, eps_min=1e-4, eps_fit=(1e-4, 1e-2)), volume_repeats=2,
              search=dict(starts=5, iters=5), rse_target=0.01)
    target = toy_target("regular")
    first = measure_phase(target, seed=4, **kw)
    top = first["top_up"]
    rounds = top["rounds"]
    assert len(rounds) >= 2 and top["draws"] == sum(x["draws"] for x in rounds)
    assert top["first_fit"]["se"] > first["llc_se"]
    # replay: every round is sized from the pooled fit of the passes before it, and pooled in turn
    curve, pooled_draws = top["first_curve"], 60
    for x in rounds:
        lam, se = [c["llc"] for c in curve], [c["se"] for c in curve]
        fit = choose_fit({f: extrapolate(kw["ms"], lam, se, f) for f in FITS})
        assert x["draws"] == top_up_draws(fit, pooled_draws, 0.01, cap=240)
        curve, pooled_draws = pool_passes(curve, x["curve"], pooled_draws, x["draws"]), pooled_draws + x["draws"]
    assert first["curve"] == curve
    rse = first["llc_se"] / first["llc_measured"]
    assert rse <= 0.01 or len(rounds) == TOP_UP_ROUNDS
    again = measure_phase(target, seed=4, reuse=jsonable(first), **kw)
    assert again["reused"] == ["search", "nuts", *(f"top_up_{k}" for k in range(1, len(rounds) + 1)), "volume"]
    assert again["llc_measured"] == pytest.approx(first["llc_measured"])
    off = measure_phase(target, seed=4, reuse=jsonable(first), **{**kw, "rse_target": None})
    assert off["top_up"]["draws"] == 0 and off["curve"] == jsonable(top["first_curve"])


def test_shipped_values_meet_the_targets():
    """Regular phases: within 2% of the exact rank/2 (the issue's target), the volume method too
    within 3 SE + 2%."""
    recs = {r["phase"]: r for r in _table()["phases"]}
    for label in ("6", "5+", "5"):
        r = recs[label]
        exact = r["llc_exact"]
        assert abs(r["llc_measured"] - exact) <= 0.02 * exact, r["fit"]
        assert abs(r["volume_llc"] - exact) <= 3 * r["volume_se"] + 0.02 * exact, r["volume_runs"]


#: (c, phase) where the two methods are more than METHODS_AGREE_SE apart: each is flagged on the
#: results page (docs/results/llc.md) and discussed in docs/llc_methods.md
KNOWN_DISAGREEMENTS = {(4, "3")}


@pytest.mark.parametrize("c", [4, 5, 6, 7, 8])
def test_every_shipped_table_matches_its_phases_and_its_methods_agree(c):
    """Every record: the phase's fields, no lower point in the basin, and the two independent
    methods agree within 3 combined SE, except the known disagreements, which must still be there
    (and are named on the results page)."""
    table = _table(c)
    assert table["settings"] == jsonable(MEASURE_DEFAULTS) and table["c"] == c
    assert table["command"].startswith(f"tms-phases llc --measure-phases -c {c}")
    phases = {p.label: p for p in enumerate_phases(c)}
    for r in table["phases"]:
        p = phases[r["phase"]]
        assert p.llc_measured == r["llc_measured"] and p.llc_se == r["llc_se"] and p.llc_method == r["method"]
        assert r["llc_exact"] == p.llc and r["llc_bound"] == p.llc_bound
        assert r["neighbourhood"]["min_excess"] > -1e-9
        assert r["m_grid"] == [float(m) for m in MEASURE_DEFAULTS["ms"]]
        apart = abs(r["llc_measured"] - r["volume_llc"]) / float(np.hypot(r["llc_se"], r["volume_se"]))
        if (c, r["phase"]) in KNOWN_DISAGREEMENTS:  # flagged on the results page, explained in the docs
            assert apart > METHODS_AGREE_SE, r["phase"]
        else:
            assert apart <= METHODS_AGREE_SE, r
        if p.llc is None:  # the target on every wall phase
            assert r["llc_se"] / r["llc_measured"] < 0.03, r["fit"]
            assert r["settings"]["rse_target"] == MEASURE_DEFAULTS["rse_target"]


@pytest.mark.parametrize("c", [4, 5, 6])
def test_every_dominant_phase_has_a_coefficient(c):
    """Every phase the dominant sequence names has an exact or a measured coefficient (no bound)."""
    _table(c)
    phases = enumerate_phases(c)
    by_label = {p.label: p for p in phases}
    dom = dominant_intervals(phases, 10.0, 1e6, llc=measured_llc_overrides(phases))
    for row in dom:
        p = by_label[row["phase"]]
        assert p.llc is not None or p.llc_measured is not None, row


def test_job_writes_and_rereads_the_table(tmp_path):
    """The job stores the engine's records atomically with the figure; a rerun reuses every part."""
    from comparisons.jobs.llc import measure_phase_llcs, read_table, table_paths

    kw = dict(ms=(1e3, 1e4, 1e5), nuts=dict(chains=2, draws=40, warmup=40),
              volume=dict(particles=60, eps_min=1e-3, eps_fit=(1e-3, 1e-1), mh_steps=3), volume_repeats=2,
              search=dict(starts=4, iters=3, radii=(0.05,)), rse_target=None)  # no top-up pass
    table = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    path, fig = table_paths(tmp_path, 4)
    assert fig.is_file() and not list(tmp_path.glob(".*.tmp"))
    assert read_table(path) == json.loads(json.dumps(table))
    (rec,) = table["phases"]
    assert rec["phase"] == "4" and rec["c"] == 4 and rec["llc_exact"] is None and rec["llc_bound"] == 5.5
    assert rec["fit"] in rec["fits"].values() and rec["reused"] == []
    again = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    assert again["phases"][0]["reused"] == ["search", "nuts", "volume"]
    assert again["phases"][0]["llc_measured"] == rec["llc_measured"]
    # a table stored before the rename tune -> warmup is read under today's names, and reused
    old = path.read_text().replace('"warmup"', '"tune"')
    assert old.count('"tune"') == 2  # the table's settings and the record's
    path.write_text(old)
    assert read_table(path) == json.loads(json.dumps(again))
    third = measure_phase_llcs(4, ["4"], tmp_path, seed=5, command="test", progress=False, **kw)
    assert third["phases"][0]["reused"] == ["search", "nuts", "volume"] and '"tune"' not in path.read_text()
    with pytest.raises(InputError, match="labels: expected phases of c = 4"):
        measure_phase_llcs(4, ["7"], tmp_path, progress=False)


def test_an_interrupted_rerun_keeps_the_records_not_yet_measured(tmp_path, monkeypatch):
    """A rerun with new volume settings that stops after its first phase leaves the second phase's
    earlier record in the file, and the next rerun reuses its search and NUTS parts."""
    from bayes_tms.llc import measure
    from comparisons.jobs.llc import measure_phase_llcs, read_table, table_paths

    kw = {"ms": (1e3, 1e4, 1e5), "nuts": {"chains": 2, "draws": 40, "warmup": 40},
          "volume": {"particles": 60, "eps_min": 1e-3, "eps_fit": (1e-3, 1e-1), "mh_steps": 3}, "volume_repeats": 2,
          "search": {"starts": 4, "iters": 3, "radii": (0.05,)}, "rse_target": None}
    first = measure_phase_llcs(4, ["4", "3"], tmp_path, seed=5, command="test", progress=False, **kw)
    path, _ = table_paths(tmp_path, 4)
    kw["volume"] = {**kw["volume"], "mh_steps": 4}
    calls, real = [], measure.volume_scaling

    def stop_at_second_phase(target, **kwargs):
        calls.append(target.name)
        if len(set(calls)) > 1:
            raise KeyboardInterrupt
        return real(target, **kwargs)

    monkeypatch.setattr(measure, "volume_scaling", stop_at_second_phase)
    with pytest.raises(KeyboardInterrupt):
        measure_phase_llcs(4, ["4", "3"], tmp_path, seed=5, command="test", progress=False, **kw)
    stored = {r["phase"]: r for r in read_table(path)["phases"]}
    assert set(stored) == {"4", "3"}
    assert stored["4"]["volume_settings"]["mh_steps"] == 4
    assert stored["3"] == json.loads(json.dumps(first["phases"][1]))
    monkeypatch.setattr(measure, "volume_scaling", real)
    again = measure_phase_llcs(4, ["4", "3"], tmp_path, seed=5, command="test", progress=False, **kw)
    assert [r["reused"] for r in again["phases"]] == [["search", "nuts", "volume"], ["search", "nuts"]]


def test_results_page_flags_exactly_the_known_disagreements():
    """docs/results/llc.md, as rendered from the shipped tables, names each known disagreement
    under its c and no other phase."""
    from pathlib import Path

    from comparisons.docs import render_results

    root = Path(__file__).resolve().parents[1]
    page = render_results(root)[Path("docs/results/llc.md")]
    sections = {int(part.split("`", 1)[0]): part for part in page.split("## `c = ")[1:]}
    for c, text in sections.items():
        flagged = [lab for (cc, lab) in KNOWN_DISAGREEMENTS if cc == c]
        assert ("**The two methods disagree**" in text) == bool(flagged), c
        for lab in flagged:
            assert f"\n| {lab} |" in text.split("**The two methods disagree**")[1]
