"""Cost estimates up front and the ``--yes`` gate for runs over an hour (issue 12, item 8)."""

from __future__ import annotations

import pytest

from comparisons import cost
from comparisons.cli import main

from test_bad_inputs import WorkStarted, no_work  # noqa: F401  (fixture)

BIG_BAYES = ["bayes", "--sampler", "nuts", "--features", "6", "--n", ",".join(str(100 * k) for k in range(1, 21)), "--chains", "64",
             "--draws", "5000", "--warmup", "5000", "--backend", "pymc", "--no-progress"]
SMALL_BAYES = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "2", "--draws", "10", "--warmup", "10",
               "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress"]


def test_the_issue_example_is_minutes_and_the_model_is_what_the_docstring_says():
    from bayes_tms import BayesConfig

    cfg = BayesConfig(ns=tuple(range(100, 801, 100)), chains=4, draws=1500, warmup=1500, backend="nutpie")
    per_rung = cost.NUTS_RUNG_S["nutpie"] + 4 * 3000 * cost.NUTS_STEP_S["nutpie"] / 2
    assert cost.bayes_seconds(cfg) == pytest.approx(cost.STARTUP_S + cost.NUTS_COMPILE_S["nutpie"] + 8 * per_rung)
    assert cost.bayes_seconds(cfg) < cost.CONFIRM_ABOVE_S
    assert cost.format_duration(30) == "30 s" and cost.format_duration(600) == "10 min"
    assert cost.format_duration(7200) == "2.0 h"


def test_a_multi_hour_bayes_run_needs_yes_and_says_why(tmp_path, capsys, no_work):  # noqa: F811
    assert main(BIG_BAYES + ["--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("estimated cost: about ") and " h for 20 n x 64 chains" in err[0]
    assert err[1].startswith("error: --yes: expected") and len(err) == 2
    with pytest.raises(WorkStarted):  # with --yes it starts
        main(BIG_BAYES + ["--out", str(tmp_path / "b"), "--yes"])


def test_a_small_run_prints_its_estimate_and_starts_without_yes(tmp_path, capsys, no_work):  # noqa: F811
    with pytest.raises(WorkStarted):
        main(SMALL_BAYES + ["--out", str(tmp_path / "s")])
    assert capsys.readouterr().err.startswith("estimated cost: about ")


@pytest.mark.parametrize("argv", [
    ["sgd", "--preset", "paper", "--runs", "5000", "--no-progress"],
    ["llc", "--features", "6", "--ns", ",".join(str(1000 * k) for k in range(1, 80)), "--methods", "nuts",
     "--phases", "6,5"],
])
def test_sgd_and_llc_runs_over_an_hour_need_yes(argv, tmp_path, capsys, no_work):  # noqa: F811
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    assert "error: --yes: expected for a run estimated at about" in capsys.readouterr().err
    with pytest.raises(WorkStarted):
        main(argv + ["--out", str(tmp_path / "o"), "--yes"])


def test_reproduce_confirms_the_whole_run_once_before_the_first_stage(tmp_path, capsys, monkeypatch, no_work):  # noqa: F811
    monkeypatch.setattr(cost, "CONFIRM_ABOVE_S", 1e-3)  # make the tiny preset "long"
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bayes + bayes_pt + bayes_pt_sigma1 + smc + figure2 + bayes_study + sgd stages" in err and "--yes" in err
    assert not (tmp_path / "r").exists()  # refused before the folder is claimed (no owner.json, no lock)
    with pytest.raises(WorkStarted):
        main(argv + ["--yes"])


def test_pt_estimate_counts_the_rungs_that_refinement_inserts():
    """The ladders refinement produced (issue 21): 100 -> 1e5 became 18 rungs in 6 rounds, 100 -> 1e6
    32 rungs in 9, the quick c = 6 ladder gained one rung; the model predicts the same growth
    (last entry: final ladder)."""
    import dataclasses

    from bayes_tms.pt import PTConfig
    from comparisons.jobs.bayes_pt import SwitchStudyConfig

    assert cost.pt_ladder((100, 100_000)) == [2, 3, 5, 9, 17, 17]
    assert len(cost.pt_ladder((100, 1_000_000))) == 9  # as refinement took (measured: 32 rungs in 9 rounds)
    assert cost.pt_ladder((150, 250, 350, 450, 550, 650, 750, 900, 1200)) == [9, 10]
    assert cost.pt_ladder((100, 200), min_swap_accept=0) == [2]
    assert cost.pt_ladder((100, 1_000_000), max_rungs=20)[-1] == 20
    wide = PTConfig(ns=(100, 1_000_000), copies=2, sweeps=20, warmup=10)
    narrow = PTConfig(ns=(100, 200), copies=2, sweeps=20, warmup=10)
    assert cost.pt_seconds(wide) > 2 * cost.pt_seconds(narrow)  # the issue's 2 s estimate hid the pilots
    study = SwitchStudyConfig(datasets=3, conventions=("tempered", "gaussian-sigma1"), population=True)
    one = cost.pt_seconds(narrow, refine_tol=0) - cost.STARTUP_S
    pop = cost.pt_seconds(dataclasses.replace(narrow, population=True), refine_tol=0) - cost.STARTUP_S
    assert cost.pt_seconds(narrow, dataclasses.replace(study, refine_tol=0)) - cost.STARTUP_S == \
        pytest.approx(2 * (3 * one + pop))
    # switch refinement adds its rounds to each study run; workers share the runs
    refined = cost.pt_seconds(narrow, study) - cost.STARTUP_S
    assert refined > 2 * (3 * one + pop)
    assert cost.pt_seconds(narrow, study, workers=2) - cost.STARTUP_S == pytest.approx(refined / 2)


def test_pt_estimate_counts_the_switch_refinement_as_it_runs():
    """One run is refined by default: its estimate adds one warm-started PT run (no pilots, a short
    warm-up) per refinement round on that round's sub-ladder (comparisons.theory.ladder.refinement_rounds,
    the rounds refine_switches runs: one at the paper spacing when every switch stays in its bracket), never a
    whole-ladder re-run; --refine-tol 0 estimates the plain run."""
    import dataclasses

    from bayes_tms.pt import pt_preset_config
    from comparisons.jobs.bayes_pt import REFINE_INSERT, REFINE_SWEEPS, REFINE_WARMUP
    from comparisons.theory.ladder import refinement_rounds

    quick = pt_preset_config("quick", 6)
    plain = cost.pt_seconds(quick, refine_tol=0)
    assert cost.pt_seconds(quick, refine_rounds=0) == plain
    extra = cost.pt_seconds(quick) - plain
    assert extra == pytest.approx(cost.refine_seconds(quick, 0.02, 3)) and extra > 0
    # the quick preset's 5 -> 6 switch: measured 280-300 at beta = 1, 680-730 at beta = 1/2
    s1, s2 = cost.predicted_switches(quick), cost.predicted_switches(quick, beta=0.5)
    assert [s for s in s1 if 250 < s < 400] and [s for s in s2 if 600 < s < 800]
    assert all(150 < s < 1200 for s in s1 + s2)
    ladders = refinement_rounds(quick.ns, s1, tol=0.02, max_rounds=3, max_insert=REFINE_INSERT)
    top = min(n for n in quick.ns if n > max(s1))  # the rung above the highest switch: nothing beyond it
    assert all(max(sub) <= top < max(quick.ns) for sub in ladders)
    # quick brackets (ratio 1.4) need more than REFINE_INSERT rungs: a second, smaller round;
    # the paper preset's (ratio 1.2) one round
    assert len(ladders) == 2 and len(ladders[1]) < len(ladders[0])
    paper = pt_preset_config("paper", 6)
    assert len(refinement_rounds(paper.ns, cost.predicted_switches(paper), max_insert=REFINE_INSERT)) == 1
    cold = [cost.pt_seconds(dataclasses.replace(quick, ns=tuple(sub)), refine_tol=0) - cost.STARTUP_S
            for sub in ladders]  # a fresh run on the sub-ladder: pilots and the full warm-up
    assert extra == pytest.approx(sum(cost._run_seconds(dataclasses.replace(quick, ns=tuple(sub)), warm=REFINE_WARMUP,
                                                        kept=REFINE_SWEEPS) for sub in ladders))
    assert extra < sum(cold) and REFINE_WARMUP < quick.warmup
    # the earlier scheme, 4 rungs per bracket a round, each round a fresh run: dearer
    before = refinement_rounds(quick.ns, s1, tol=0.02, max_rounds=3, max_insert=4)
    assert len(before) == 2
    assert extra < sum(cost.pt_seconds(dataclasses.replace(quick, ns=tuple(sub)), refine_tol=0) - cost.STARTUP_S
                       for sub in before)
    # the whole ladder re-run with the same rungs inserted, as the study did before: dearer
    whole, have = 0.0, set(quick.ns)
    for sub in ladders:
        have |= set(sub)
        whole += cost.pt_seconds(dataclasses.replace(quick, ns=tuple(sorted(have))), refine_tol=0) - cost.STARTUP_S
    assert extra < whole
    # at beta = 1/2 the 5 -> 6 switch lies higher: its round samples more rungs below it
    ladders2 = refinement_rounds(quick.ns, s2, tol=0.02, max_rounds=3, max_insert=REFINE_INSERT)
    assert max(map(max, ladders2)) > max(map(max, ladders))
    assert len([n for n in ladders2[0] if n in quick.ns]) > len([n for n in ladders[0] if n in quick.ns])


def test_population_pt_estimate_is_calibrated_to_its_compiled_kernel():
    """A small population run (paper ladder, c = 6, 8 copies, 300 + 600 sweeps, one thread) took 4.7 s
    of CPU with the compiled kernel (13.1 s with kernel="numpy"); the population kernel costs less per
    replica than the data sets' one, so the same run on a data set is estimated dearer."""
    import dataclasses

    from bayes_tms.pt import pt_preset_config

    small = pt_preset_config("paper", 6, population=True, sweeps=600, warmup=300, thin=4)
    est = cost.pt_seconds(small, refine_tol=0) - cost.STARTUP_S
    assert 4.7 / 2 <= est <= 4.7 * 2
    data = cost.pt_seconds(dataclasses.replace(small, population=False), refine_tol=0) - cost.STARTUP_S
    assert est < data


def test_measure_phases_estimate_counts_wall_phases_double_and_nothing_when_all_stored():
    assert cost.measure_seconds(6, []) == 0
    assert cost.measure_seconds(6, ["4", "3--"], parts={"4": [], "3--": []}) == 0
    one_kgon = cost.measure_seconds(6, ["4"], parts={"4": ["search", "nuts"]}) - cost.STARTUP_S
    one_wall = cost.measure_seconds(6, ["3--"], parts={"3--": ["search", "nuts"]}) - cost.STARTUP_S
    assert one_kgon == pytest.approx(cost.MEASURE_PHASE_S + 5 * cost.MEASURE_POINT_S["kgon"])
    assert one_wall > 2 * one_kgon
    # the volume part: levels grow with the coefficient, steps with mh_steps
    vol = cost.measure_seconds(6, ["6"], parts={"6": ["volume"]}) - cost.STARTUP_S
    assert vol == pytest.approx(3 * cost.MEASURE_LEVELS_PER_LLC * 8.5 * 240 * cost.MEASURE_VOLUME_STEP_S * 36)
    assert cost.measure_seconds(6, ["6"], parts={"6": ["volume"]}, volume={"mh_steps": 60}) - cost.STARTUP_S \
        == pytest.approx(vol / 4)
    full = cost.measure_seconds(6, ["6"])
    assert full == pytest.approx(cost.STARTUP_S + cost.MEASURE_PHASE_S + 5 * cost.MEASURE_POINT_S["kgon"] + vol)
    # larger c costs more per grid point
    nuts8 = cost.measure_seconds(8, ["4"], parts={"4": ["nuts"]}) - cost.STARTUP_S
    nuts6 = cost.measure_seconds(6, ["4"], parts={"4": ["nuts"]}) - cost.STARTUP_S
    assert nuts8 == pytest.approx((8 / 6) ** cost.MEASURE_POINT_C_POWER * nuts6)


def test_measure_phases_over_an_hour_needs_yes_and_prints_its_estimate(tmp_path, capsys, monkeypatch):
    import comparisons.jobs.llc as job

    def refuse(*a, **k):
        raise WorkStarted("measured before the gate")

    monkeypatch.setattr(job, "measure_phase_llcs", refuse)
    argv = ["llc", "--measure-phases", "-c", "6", "--phases", "4,4+,4++,3--,6,5+,5", "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("estimated cost: about ") and "7 phase(s)" in err and "error: --yes" in err
    assert not (tmp_path / "m").exists()
    with pytest.raises(WorkStarted):
        main(argv + ["--yes"])


def test_measure_phases_estimate_counts_only_the_parts_a_stored_table_lacks(tmp_path, capsys, monkeypatch):
    """A stored table measured under other volume settings costs its volume runs, not nothing."""
    import json
    from pathlib import Path

    import comparisons.jobs.llc as job
    from bayes_tms.llc import MEASURE_DEFAULTS

    def refuse(*a, **k):
        raise WorkStarted("measured before the gate")

    monkeypatch.setattr(job, "measure_phase_llcs", refuse)
    shipped = Path(cost.__file__).parent / "theory" / "data" / "llc_measured_c4.json"
    table = json.loads(shipped.read_text())
    out = tmp_path / "m"
    out.mkdir()
    argv = ["llc", "--measure-phases", "-c", "4", "--phases", "4,3--,3", "--out", str(out)]
    for rec in table["phases"]:  # as measured under today's volume settings
        rec["volume_settings"]["mh_steps"] = MEASURE_DEFAULTS["volume"]["mh_steps"]
    (out / "llc_measured_c4.json").write_text(json.dumps(table))
    with pytest.raises(WorkStarted):
        main(argv)
    assert "(none; 3 stored)" in capsys.readouterr().err  # every part stored: nothing to estimate
    {r["phase"]: r for r in table["phases"]}["3"]["volume_settings"]["mh_steps"] = 7  # other run settings
    (out / "llc_measured_c4.json").write_text(json.dumps(table))
    with pytest.raises(WorkStarted):
        main(argv)
    err = capsys.readouterr().err
    assert "1 phase(s) (3; 2 stored; only 3: volume)" in err
    expect = cost.measure_seconds(4, ["3"], parts={"3": ["volume"]})
    assert f"about {cost.format_duration(expect)} for" in err and expect < cost.measure_seconds(4, ["3"]) / 4


def test_measure_phases_progress_names_the_phase_method_and_grid_point(capsys, monkeypatch):
    """The engine logs each phase, method and grid point; ``llc --measure-phases`` prints them."""
    from types import SimpleNamespace

    import bayes_tms.llc.measure as measure
    import bayes_tms.llc.tempered as tempered
    from comparisons.cli.llc import _progress_lines
    from llc_toys import toy_target

    fake = SimpleNamespace(llc=1.0, se=0.1, ess=100.0, divergences=0, failed_chains=0)
    monkeypatch.setattr(tempered, "nuts_lambda", lambda *a, **k: fake)
    monkeypatch.setattr(measure, "measure_phase", lambda target, **k: {"wall_s": 0.0})
    with _progress_lines():
        list(measure.measure_phases(6, ["4", "5"]))
        tempered.lambda_curve(toy_target("regular"), (1e4, 1e6))
    tempered.lambda_curve(toy_target("regular"), (1e4,))  # outside the command: silent
    err = capsys.readouterr().err.splitlines()
    assert err == ["[4 (1 of 2)] starting", "[5 (2 of 2)] starting",
                   "[5 (2 of 2)] method nuts, grid point m = 10000 (1 of 2)",
                   "[5 (2 of 2)] method nuts, grid point m = 1e+06 (2 of 2)"], err


def test_smc_estimate_follows_the_recorded_task_times_and_shares_the_workers():
    """The SMC model against stored ladders (tests/data/smc_task_times.json: c = 8 paper-size and
    c = 6 quick-size tasks): the tempering stages within 2.5 of those recorded, every task within 2x.
    The old model (15 stages at every n, 3e-6 s per particle step) put the c = 8 ladder at 4.5 min
    against 14.4 min measured one n at a time."""
    import json
    from pathlib import Path

    rec = json.loads((Path(__file__).parent / "data" / "smc_task_times.json").read_text())
    assert len(rec["ladders"]) >= 2
    for lad in rec["ladders"]:
        for t in lad["tasks"]:
            assert abs(cost.smc_stages(t["n"], lad["beta"]) - t["stages"]) <= 2.5, (lad["features"], t)
            one = cost.smc_seconds([t["n"]], lad["particles"], lad["runs"], lad["mutation_steps"], beta=lad["beta"])
            ratio = (one - cost.STARTUP_S - cost.SMC_START_S) / t["elapsed_s"]
            assert 0.5 < ratio < 2.0, (lad["features"], t, ratio)
    # a pool shares the tasks; in-process runs them in turn
    ns, args = [100, 1000, 10000, 20000], (500, 4, 100)
    inline = cost.smc_seconds(ns, *args, beta=0.5) - cost.STARTUP_S - cost.SMC_START_S
    pooled = cost.smc_seconds(ns, *args, beta=0.5, workers=2, executor="process") - cost.STARTUP_S - cost.SMC_START_S
    assert pooled == pytest.approx(inline / 2)
    # more stages as the posterior narrows, in n beta
    assert cost.smc_stages(2000, 0.5) == pytest.approx(cost.smc_stages(1000, 1.0))
    assert cost.smc_stages(1000, 1.0) < cost.smc_stages(4000, 1.0)


def test_volume_estimate_follows_the_recorded_volume_times():
    """Every shipped record whose volume runs alone were measured (search, NUTS curve and top-up
    rounds reused) took within 2x (or a minute) of the estimate of that part (two tables at a time
    on 2 cores)."""
    import json
    from pathlib import Path

    checked = 0
    for path in sorted((Path(cost.__file__).parent / "theory" / "data").glob("llc_measured_c*.json")):
        table = json.loads(path.read_text())
        for rec in table["phases"]:
            reused = rec.get("reused", [])
            rounds = len(rec.get("top_up", {}).get("rounds", []))
            if "volume" in reused or not {"search", "nuts"} <= set(reused) \
                    or sum(x.startswith("top_up") for x in reused) != rounds:
                continue
            est = cost.measure_seconds(table["c"], [rec["phase"]], parts={rec["phase"]: ["volume"]},
                                       volume=rec["volume_settings"],
                                       volume_repeats=len(rec["volume_curves"])) - cost.STARTUP_S
            # within 2x, or a minute for the short runs of the 3-- walls (25 to 120 s)
            assert rec["wall_s"] / 2 - 60 <= est <= 2 * rec["wall_s"] + 60, (path.name, rec["phase"], est, rec["wall_s"])
            checked += 1
    assert checked >= 5  # the re-measurement of every table's volume runs (mh_steps 240)


def test_measure_estimate_defaults_are_the_engines():
    """``measure_seconds`` without settings estimates the engine's defaults (its own copy of them,
    since ``comparisons.cost`` imports no engine, must not drift)."""
    from bayes_tms.llc import MEASURE_DEFAULTS

    labels = ["4", "3--", "6"]
    assert cost.measure_seconds(6, labels) == cost.measure_seconds(
        6, labels, len(MEASURE_DEFAULTS["ms"]), volume=MEASURE_DEFAULTS["volume"],
        volume_repeats=MEASURE_DEFAULTS["volume_repeats"])
