"""The PT job: files, resume after an interruption, cached re-runs, the switch summary, bad flags."""

import dataclasses
import itertools
import json

import numpy as np
import pytest
import xarray as xr

from bayes_tms.pt import PTConfig
from comparisons.cli import main
from comparisons.contracts import level_switches, read_diagnostics, read_occupancy, read_switch_summary, \
    read_transitions, validate_posterior
from comparisons.jobs import bayes_pt
from comparisons.jobs.bayes_pt import SwitchStudyConfig, run_pt, run_pt_study, switch_stretch_rows, switch_summary

TINY = dict(ns=(20, 40, 80), copies=2, sweeps=24, warmup=10, pilot_sweeps=10, pilot_warmup=10, features=4,
            leapfrog=4, seed=3)


def test_run_writes_every_file_and_a_rerun_is_cached(tmp_path):
    res = run_pt(PTConfig(**TINY, bootstrap=50), tmp_path, progress=False)
    assert res.status == 0 and tmp_path / "timing.json" in res.files and res.folder == tmp_path
    for name in ("posterior_n00020.nc", "posterior_n00080.nc", "pt_diagnostics.nc", "occupancy.csv",
                 "occupancy_family.csv", "transitions.json", "diagnostics.csv", "occupancy.png", "done.json"):
        assert (tmp_path / name).exists(), name
    assert not list(tmp_path.glob("pt_state*.npz"))
    # refined by default: the requested rungs and any inserted around the switch (flagged)
    diag = res.summary["diagnostics"]
    ns = diag["n"].values.tolist()
    assert {20, 40, 80} <= set(ns) and diag["inserted"].values.tolist() == [n not in (20, 40, 80) for n in ns]
    assert res.summary["rungs"] == ns
    assert not res.cached
    again = run_pt(PTConfig(**TINY, bootstrap=50), tmp_path, progress=False)
    assert again.cached
    xr.testing.assert_identical(again.summary["transitions"], res.summary["transitions"])
    exported = json.loads((tmp_path / "transitions.json").read_text())  # the JSON export: the same switches
    assert [(t["from"], t["to"], t["n"]) for t in exported] == list(zip(
        *(res.summary["transitions"][k].values.tolist() for k in ("from", "to", "n"))))
    occ = read_occupancy(tmp_path / "occupancy.nc")
    assert list(occ["estimator"].values) == ["pt"] and occ["phase"].dtype.kind == "U"
    xr.testing.assert_identical(read_transitions(tmp_path / "transitions.nc"), res.summary["transitions"])
    assert res.summary["transitions"].attrs["sampler"] == "pt"
    diag = read_diagnostics(tmp_path / "diagnostics.nc")
    xr.testing.assert_identical(diag, res.summary["diagnostics"])
    assert diag["mixed"].dtype == bool and diag.attrs["sampler"] == "pt"
    for n in (20, 80):
        validate_posterior(tmp_path / f"posterior_n{n:05d}.nc")


def test_interrupted_run_resumes_to_the_same_draws(tmp_path, monkeypatch):
    import bayes_tms.pt as pt
    import arviz as az

    ref = tmp_path / "ref"
    run_pt(PTConfig(**TINY, bootstrap=50), ref, progress=False, chunk=8)
    out = tmp_path / "cut"
    saves = []
    real = pt.save_state

    def save_then_stop(state, path):
        real(state, path)
        saves.append(state.sweep)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(pt, "save_state", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_pt(PTConfig(**TINY, bootstrap=50), out, progress=False, chunk=8)
    assert (out / bayes_pt.STATE_FILE).exists() and not (out / bayes_pt.DONE_FILE).exists()
    monkeypatch.setattr(pt, "save_state", real)
    run_pt(PTConfig(**TINY, bootstrap=50), out, progress=False, chunk=8)
    for n in TINY["ns"]:
        a = az.from_netcdf(str(ref / f"posterior_n{n:05d}.nc"), engine="h5netcdf").posterior["W"].values
        b = az.from_netcdf(str(out / f"posterior_n{n:05d}.nc"), engine="h5netcdf").posterior["W"].values
        np.testing.assert_array_equal(a, b)


def test_switch_summary_counts_each_data_set_once():
    base = {"convention": "tempered", "beta": 1.0, "from": "5", "to": "6", "predicted_n": 601.0,
            "predicted_n_laplace": 225.0, "mixed": True}
    rows = [{**base, "dataset": "0", "n": 900.0}, {**base, "dataset": "0", "n": 400.0},
            {**base, "dataset": "1", "n": 500.0}]
    summary = switch_summary(rows, datasets=3)
    assert summary.sizes["row"] == 1
    assert (int(summary["datasets"][0]), int(summary["datasets_run"][0]), str(summary["values"][0].item())) == \
        (2, 3, "400 500")
    assert float(summary["mean"][0]) == pytest.approx(450.0)


def test_switch_summary_merges_a_flip_back_and_forth_into_one_switch():
    """Data set 0 flips 5 -> 6 -> 5 -> 6 within the noise (one stretch at the geometric mean of
    its first and last crossing, not its first crossing, and no 6 -> 5 row); data set 1 goes
    5 -> 6 and back 6 -> 5 (an even run: kept crossing by crossing)."""
    base = {"convention": "tempered", "beta": 1.0, "predicted_n": 601.0, "predicted_n_laplace": 225.0,
            "mixed": True}
    flips = [("5", "6", 400.0, 395.0, 401.0), ("6", "5", 402.0, 401.0, 404.0), ("5", "6", 441.0, 404.0, 450.0),
             ("5", "6", 300.0, 290.0, 310.0), ("6", "5", 900.0, 880.0, 920.0)]
    rows = [{**base, "dataset": d, "from": a, "to": b, "n": n, "lower": lo, "upper": hi}
            for d, (a, b, n, lo, hi) in zip("00011", flips)]
    stretches = switch_stretch_rows(rows)
    assert [(r["dataset"], r["from"], r["to"], r["crossings"]) for r in stretches] == \
        [("0", "5", "6", 3), ("1", "5", "6", 1), ("1", "6", "5", 1)]
    assert stretches[0]["n"] == pytest.approx(np.sqrt(400 * 441)) and \
        (stretches[0]["lower"], stretches[0]["upper"]) == (395.0, 450.0)
    summary = switch_summary(rows, datasets=2)
    s = {(str(summary["from"].values[i]), str(summary["to"].values[i])): i for i in range(summary.sizes["row"])}
    up, down = summary.isel(row=s["5", "6"]), summary.isel(row=s["6", "5"])
    assert str(up["values"].item()) == "420 300" and float(up["not_single"]) == 1.0  # 420 = sqrt(400 * 441)
    assert int(down["datasets"]) == 1 and str(down["values"].item()) == "900"


def test_another_classifier_is_not_a_cached_result(tmp_path):
    cfg = PTConfig(**{**TINY, "ns": (20, 40), "sweeps": 10, "bootstrap": 20})
    run_pt(dataclasses.replace(cfg, classifier="gated"), tmp_path, progress=False)
    hull = run_pt(cfg, tmp_path, progress=False)  # the default: the paper's hull rule
    assert not hull.cached
    import arviz as az

    post = az.from_netcdf(str(tmp_path / "posterior_n00020.nc"), engine="h5netcdf").posterior
    assert post.attrs["classifier"] == "hull" and "unclassified" not in set(post["phase"].values.ravel())
    assert run_pt(dataclasses.replace(cfg, classifier="hull"), tmp_path, progress=False).cached


def test_switch_summary_spread_and_population():
    rows = [{"convention": "tempered", "beta": 1.0, "dataset": str(k), "from": "5", "to": "6", "n": v,
             "predicted_n": 601.0, "predicted_n_laplace": 225.0, "mixed": True}
            for k, v in enumerate([240.0, 260.0, 300.0])]
    rows.append({**rows[0], "dataset": "population", "n": 276.0})
    summary = switch_summary(rows, datasets=3)
    assert summary.sizes["row"] == 1
    s = {k: v.item() for k, v in summary.isel(row=0).data_vars.items()}
    assert s["datasets"] == s["datasets_run"] == 3 and s["mean"] == pytest.approx(800 / 3)
    assert s["sd"] == pytest.approx(np.std([240, 260, 300], ddof=1)) and s["population"] == 276.0
    assert s["values"] == "240 260 300" and s["all_mixed"]


def test_study_runs_each_convention_on_the_same_data(tmp_path):
    cfg = PTConfig(**{**TINY, "ns": (20, 40), "sweeps": 12, "bootstrap": 20})
    res = run_pt_study(cfg, SwitchStudyConfig(datasets=2, conventions=("tempered", "gaussian-sigma1"), population=True),
                       tmp_path, progress=False)
    assert (tmp_path / "switches.csv").exists() and (tmp_path / "switch_summary.csv").exists()
    xr.testing.assert_identical(read_switch_summary(tmp_path / "switch_summary.nc"), res.summary["summary"])
    seeds = {}
    for conv in ("tempered", "gaussian-sigma1"):
        for k in range(2):
            conf = json.loads((tmp_path / conv / f"data{k:02d}" / "config.json").read_text())
            seeds.setdefault(k, set()).add(conf["seed"])
            assert conf["beta"] == bayes_pt.CONVENTIONS[conv]
        assert json.loads((tmp_path / conv / "population" / "config.json").read_text())["population"]
    assert all(len(v) == 1 for v in seeds.values()) and seeds[0] != seeds[1]
    assert all(r["convention"] in bayes_pt.CONVENTIONS for r in res.summary["switches"])


@pytest.mark.parametrize("argv, fragment", [
    (["--chains", "4"], "--chains: NUTS flags"),
    (["--datasets", "0"], "--datasets"),
    (["--datasets", "2", "--conventions", "tempered,nope"], "--conventions"),
    (["--conventions", "tempered"], "--conventions: expected together with --datasets"),
    (["--datasets", "2", "--beta", "0.5"], "--beta"),
    (["--copies", "0"], "copies"),
    (["--refine-tol", "1.5"], "--refine-tol: expected a number in [0, 1)"),  # one run's refinement too
    (["--refine-rounds", "-1"], "--refine-rounds: expected an integer >= 0"),
])
def test_bad_pt_flags_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    code = main(["bayes", "--sampler", "pt", "--n", "20,40", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and "\n" not in err


def test_paper_switch_is_marked_at_the_theory_crossing():
    import matplotlib

    matplotlib.use("Agg")
    from comparisons.theory import crossings, enumerate_phases

    pair = [p for p in enumerate_phases(6) if p.label in ("5", "6")]
    want = [e["n"] for e in crossings(pair, n_max=1e6, beta=1.0) if (e["from"], e["to"]) == ("5", "6")]
    assert len(want) == 1 and bayes_pt.paper_switch_n(6) == want[0]
    assert bayes_pt.paper_switch_n(4) is None  # no 5 -> 6 at c = 4: nothing marked
    rows = [{"convention": conv, "beta": beta, "dataset": ds, "from": "5", "to": "6", "n": n, "lower": n - 20,
             "upper": n + 20, "predicted_n": want[0] / beta, "predicted_n_laplace": None, "mixed": True}
            for conv, beta in bayes_pt.CONVENTIONS.items() for ds, n in (("0", 250.0 / beta), ("population", 270.0 / beta))]
    fig = bayes_pt.plot_switches(rows, features=6)
    for ax in fig.axes:  # every convention's panel: the beta = 1 crossing, the paper's own comparison
        marks = [ln for ln in ax.lines if ln.get_color() == "C4"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [want[0]] * 2
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels.count("paper: switch near the asymptotic crossing") == 1
    unmarked = bayes_pt.plot_switches(rows)
    assert not any(ln.get_color() == "C4" for ax in unmarked.axes for ln in ax.lines)



def test_one_run_is_refined_by_default_and_refine_tol_0_is_the_plain_run(tmp_path):
    """run_pt refines as a study run does (refine_pt): the requested rungs keep the first run's draws,
    each round samples only its inserted rungs, their bracket and the rungs below, and every phase
    switch is bracketed within 2% unless the rounds ran out; refine_tol=0 writes the plain run's
    files, byte for byte the same whichever folder."""
    import arviz as az

    from comparisons.theory.ladder import bracket_resolved

    # the population loss switches between 20 and 40; 6 copies: an interval narrower than that bracket
    cfg = PTConfig(**{**TINY, "population": True, "copies": 6, "sweeps": 60}, bootstrap=50)
    res = run_pt(cfg, tmp_path / "refined", progress=False)
    plain = run_pt(cfg, tmp_path / "plain", progress=False, refine_tol=0)
    history = json.loads((tmp_path / "refined" / "refinement.json").read_text())
    assert history[0]["ns"] == history[0]["kept"] == [20, 40, 80] and history[0]["inserted"]
    for before, rnd in itertools.pairwise(history):
        assert rnd["kept"] == before["inserted"] and max(rnd["ns"]) < 80  # never the whole ladder
        assert (tmp_path / "refined" / f"pt_diagnostics_round{rnd['round']}.nc").exists()
    rungs = res.summary["rungs"]
    assert rungs == sorted(set().union(*(h["kept"] for h in history))) and len(rungs) > 3
    for n in (20, 40, 80):  # the requested rungs: the first run's draws, as without refinement
        a, b = (az.from_netcdf(str(tmp_path / d / f"posterior_n{n:05d}.nc"), engine="h5netcdf").posterior
                for d in ("refined", "plain"))
        np.testing.assert_array_equal(a["W"].values, b["W"].values)
    trans = res.summary["transitions"]
    phase = level_switches(trans)
    assert phase.sizes["transition"] and set(phase["n_before"].values) | set(phase["n_after"].values) <= set(rungs)
    assert phase["resolved"].values.tolist() == bracket_resolved(phase, 0.02).tolist()
    assert phase["resolved"].values.all() or len(history) == bayes_pt.REFINE_ROUNDS + 1
    assert not level_switches(trans, "family")["resolved"].values.any()  # families are not refined
    # figure 2 and the estimators side by side read the requested rungs, with the phases seen there
    from comparisons.jobs.figure2 import requested_rungs

    refined_occ, plain_occ = (read_occupancy(tmp_path / d / "occupancy.nc") for d in ("refined", "plain"))
    assert "requested_ns" not in plain_occ.attrs and requested_rungs(plain_occ) is plain_occ
    base = requested_rungs(refined_occ)
    assert list(base["n"].values) == [20, 40, 80] and list(base["phase"].values) == list(plain_occ["phase"].values)
    np.testing.assert_array_equal(base["fraction"].values, plain_occ["fraction"].values)
    # the plain run: the requested rungs only, no refinement files, no "resolved"
    assert plain.summary["rungs"] == [20, 40, 80] and not (tmp_path / "plain" / "refinement.json").exists()
    assert "resolved" not in plain.summary["transitions"]
    run_pt(cfg, tmp_path / "plain2", progress=False, refine_tol=0)
    for name in ("occupancy.csv", "occupancy_family.csv", "transitions.json", "diagnostics.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "plain2" / name).read_bytes(), name
    # cached per refinement setting: the refined folder re-served, the plain one not mistaken for it
    assert run_pt(cfg, tmp_path / "refined", progress=False).cached
    assert not run_pt(cfg, tmp_path / "plain", progress=False).cached


def test_run_killed_in_a_refinement_round_resumes_to_the_same_draws(tmp_path, monkeypatch):
    """Each round checkpoints to its own state file, kept until the run is done: a run killed in
    round 1 resumes it (round 0 read back from its state) and ends with the same draws everywhere."""
    import arviz as az

    from bayes_tms import pt

    cfg = PTConfig(**{**TINY, "population": True, "copies": 6, "sweeps": 60}, bootstrap=50)
    ref = tmp_path / "ref"
    run_pt(cfg, ref, progress=False, chunk=8)
    out = tmp_path / "cut"
    real = pt.save_state

    def save_then_stop(state, path):
        real(state, path)
        if "round1" in str(path) and state.sweep >= 16:
            raise KeyboardInterrupt

    monkeypatch.setattr(pt, "save_state", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_pt(cfg, out, progress=False, chunk=8)
    assert (out / bayes_pt.STATE_FILE).exists() and not (out / bayes_pt.DONE_FILE).exists()
    assert list(out.glob("pt_state_round1*"))
    monkeypatch.setattr(pt, "save_state", real)
    res = run_pt(cfg, out, progress=False, chunk=8)
    assert not list(out.glob("pt_state*.npz"))
    for n in res.summary["rungs"]:
        a, b = (az.from_netcdf(str(d / f"posterior_n{n:05d}.nc"), engine="h5netcdf").posterior["W"].values
                for d in (ref, out))
        np.testing.assert_array_equal(a, b)
