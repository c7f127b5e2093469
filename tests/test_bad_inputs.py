"""A table of bad inputs (issue 12, item 7): each is refused before any work, on one line.

Command-line cases run ``comparisons.cli.main`` in-process and expect exit status 2, one line
on stderr that starts with ``error:`` and names the bad value, and no traceback. API cases expect
:class:`comparisons.errors.InputError` whose message contains the value. A guard makes every
case fail loudly if sampling, training or a sweep starts, so validation must come first; each
case takes milliseconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from comparisons.cli import main
from comparisons.errors import InputError

OUT = "{out}"


class WorkStarted(BaseException):
    """Raised by the guard when a case reaches real work (validation came too late)."""


@pytest.fixture
def no_work(monkeypatch):
    """Make every entry point of real work raise WorkStarted."""
    import comparisons.jobs.llc_accuracy as acc
    import comparisons.sweep as sweep
    import comparisons.sweep.runner as runner

    def refuse(*args, **kwargs):
        raise WorkStarted("work started before the input was validated")

    import comparisons.jobs.bayes_pt as pt_job
    import comparisons.jobs.llc as llc_job

    monkeypatch.setattr(runner, "run_sweep", refuse)
    monkeypatch.setattr(sweep, "run_sweep", refuse)
    for name in ("llc_estimate", "calibration_table"):
        monkeypatch.setattr(acc, name, refuse)
    for name in ("run_pt", "run_pt_study"):  # replica exchange does not go through the sweep runner
        monkeypatch.setattr(pt_job, name, refuse)
    monkeypatch.setattr(llc_job, "measure_phase_llcs", refuse)
    return refuse


def flag(base: list[str], name: str, value: str | None) -> list[str]:
    """``base`` with ``name`` set to ``value`` (replaced if present, appended if not, dropped if None)."""
    argv = list(base)
    if name in argv:
        i = argv.index(name)
        del argv[i:i + 2]
    if value is not None:  # "--x=-1": argparse would read a bare "-1"/"-inf" as an option
        argv += [f"{name}={value}"] if value.startswith("-") else [name, value]
    return argv


BAYES = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "2", "--draws", "10", "--warmup", "10",
         "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress", "--out", OUT]
SGD = ["sgd", "--preset", "smoke", "--runs", "2", "--epochs", "5", "--no-progress", "--out", OUT]
LLC = ["llc", "--features", "4", "--phase", "4", "--n", "1000", "--method", "sgld"]
FREE = ["free-energy", "--features", "4", "--n", "100,200", "--out", OUT, "--no-progress"]
REPRO = ["reproduce", "--preset", "tiny", "--out", OUT, "--no-progress"]

NUMBER_JUNK = ["abc", "nan", "inf", "-inf", "1.5"]  # for integer flags


def _cases():
    cases = []

    def add(base, name, value, fragment=None):
        cases.append(pytest.param(flag(base, name, value), fragment or value,
                                  id=f"{base[0]} {name}={value!r}"))

    # bayes: every numeric flag
    for v in ["0", "-5", "abc", "", ",", "nan", "inf", "1e3", "80,40", "40,40", "2", "10000000"]:
        add(BAYES, "--n", v, {"": "--n", ",": "--n", "80,40": "80, 40", "40,40": "40, 40",
                              "2": "got 2"}.get(v))
    for name in ("--chains", "--draws"):
        for v in ["0", "-1"] + NUMBER_JUNK:
            add(BAYES, name, v)
    for v in ["-1"] + NUMBER_JUNK:
        add(BAYES, "--warmup", v)
        add(BAYES, "--seed", v)
    for v in ["0", "1", "9", "-2", "x"]:
        add(BAYES, "--features", v)
    for v in ["0", "-1", "x"]:
        add(BAYES, "--hidden", v)
    for name in ("--beta", "--prior-sigma"):
        for v in ["0", "-1", "nan", "inf", "x"]:
            add(BAYES, name, v)
    for v in ["0", "1", "1.5", "nan", "x"]:
        add(BAYES, "--target-accept", v)
    for v in ["0", "-1", "x"]:
        add(BAYES, "--cores", v)
    for v in ["0", "5", "x"]:
        add(BAYES, "--bootstrap", v)
    add(BAYES, "--backend", "stan")
    add(BAYES, "--preset", "huge")
    add(BAYES, "--out", "", "--out")
    add(BAYES, "--workers", "0")
    add(BAYES, "--retries", "-1")
    add(BAYES, "--executor", "mpi")
    add(BAYES, "--config", "/nonexistent/cfg.toml")
    # sgd
    for name in ("--runs", "--epochs", "--batch-size", "--threads"):
        for v in ["0", "-1", "x"]:
            add(SGD, name, v)
    for v in ["0", "-1", "nan", "inf", "x"]:
        add(SGD, "--lr", v)
    for v in ["0", "3", "x", "100000000000"]:
        add(SGD, "--n", v)
    add(SGD, "--batch-size", "100000")
    for v in ["1", "9", "x"]:
        add(SGD, "--features", v)
    add(SGD, "--optimizer", "rmsprop")
    add(SGD, "--init", "uniform")
    for v in ["1", "9"]:
        add(SGD, "--init-k", v)
    for name in ("--init-noise", "--init-scale"):
        for v in ["-1", "nan", "inf"]:
            add(SGD, name, v)
    for name in ("--checkpoint-every", "--log-checkpoints", "--seed", "--llc-chunk"):
        add(SGD, name, "-1")
    add(SGD, "--dtype", "float16")
    add(SGD, "--device", "tpu")
    for name in ("--llc-chains", "--llc-draws", "--llc-thin", "--llc-threads", "--plot-runs"):
        add(SGD, name, "0")
    add(SGD, "--llc-warmup", "-1")
    add(SGD, "--llc-warmup", "600")
    for name in ("--llc-step", "--llc-beta"):
        for v in ["0", "nan", "inf"]:
            add(SGD, name, v)
    add(SGD, "--llc-gamma", "-1")
    for v in ["0", "2", "nan"]:
        add(SGD, "--llc-escape-fraction", v)
    add(SGD, "--llc-dtype", "half")
    add(SGD, "--block-runs", "0")
    add(SGD, "--preset", "huge")
    add(SGD, "--out", "", "--out")
    add(SGD, "--workers", "-2")
    # llc
    for v in ["1", "0", "x", "nan", "inf", "2.5"]:
        add(LLC, "--n", v)
    for v in ["1", "9"]:
        add(LLC, "--features", v)
    add(LLC, "--phase", "nope")
    add(LLC, "--method", "hmc")
    add(LLC, "--format", "xml")
    add(LLC, "--seed", "-1")
    for name in ("--gamma", "--step"):
        for v in ["0", "nan", "inf"]:
            add(LLC, name, v)
    for name in ("--chains", "--draws"):
        add(LLC, name, "0")
    add(LLC, "--warmup", "-1")
    cases.append(pytest.param(LLC + ["--draws", "50", "--warmup", "100"], "100", id="llc warmup>=draws"))
    cases.append(pytest.param(LLC + ["--ns", "1000"], "--out", id="llc sweep without --out"))
    for name, v in [("--ns", ""), ("--ns", "1"), ("--methods", "foo"), ("--phases", ""), ("--steps", "0"),
                    ("--steps", "nan"), ("--gammas", "-1")]:
        add(LLC + ["--out", OUT], name, v, v or name)
    add(LLC + ["--out", OUT], "--phases", "4,nope", "'nope'")
    cases.append(pytest.param(["llc", "--features", "4", "--calibrate", "--out", OUT], "--calibrate",
                              id="llc calibrate without phase"))
    add(LLC + ["--ns", "1000"], "--out", "", "--out")
    # free-energy
    for v in ["1", "", "x", "100,100", "200,100", "nan"]:
        add(FREE, "--n", v, {"": "--n", "100,100": "100, 100", "200,100": "200, 100"}.get(v))
    for v in ["1", "9", "x"]:
        add(FREE, "--features", v)
    for name, v in [("--particles", "5"), ("--particles", "0"), ("--runs", "0"), ("--mutation-steps", "0"),
                    ("--seed", "-1"), ("--beta", "0"), ("--beta", "nan"), ("--beta", "inf"),
                    ("--prior-sigma", "0"), ("--prior-sigma", "nan"), ("--bayes-dir", "/nonexistent/dir")]:
        add(FREE, name, v)
    add(FREE, "--out", "", "--out")
    # reproduce
    for name, v in [("--preset", "huge"), ("--features", "3"), ("--features", "9"), ("--features", "x"),
                    ("--seed", "-1"), ("--seed", "x"), ("--workers", "0")]:
        add(REPRO, name, v)
    add(REPRO, "--out", "", "--out")
    # kgons and theory
    for v in ["1", "9", "x"]:
        add(["kgons"], "--features", v)
        add(["theory"], "--features", v)
    add(["kgons"], "--format", "xml")
    for v in ["0", "nan", "inf", "x"]:
        add(["theory"], "--n-max", v)
    add(["theory", "--measure-free-energy", "--features", "6"], "--phases", "6,nope", "got nope")
    return cases


CLI_CASES = _cases()


@pytest.mark.parametrize("argv, fragment", CLI_CASES)
def test_cli_refuses_bad_input_on_one_line_before_any_work(argv, fragment, tmp_path, capsys, no_work,
                                                           monkeypatch):
    out = tmp_path / "o"
    argv = [a.replace(OUT, str(out)) for a in argv]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a case that fell back to the current folder would write here
    status = main(argv)
    assert not any(cwd.iterdir()), "wrote into the current folder"
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert fragment in err, err


def test_cli_refuses_an_output_path_that_is_a_file(tmp_path, capsys, no_work):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for base in (BAYES, SGD, FREE, REPRO):
        argv = [a.replace(OUT, str(blocker)) for a in base]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--out" in err and str(blocker) in err and err.count("\n") == 1


def test_the_table_is_large():
    assert len(CLI_CASES) + len(API_CASES) >= 100


# -- Python API ------------------------------------------------------------------------------------
def _phase(c=4):
    from comparisons.theory import enumerate_phases

    return enumerate_phases(c)[0]


def _api_cases():
    from comparisons import theory as th

    W, b = np.eye(2, 4), np.zeros(4)
    nanW = W.copy()
    nanW[0, 1] = np.nan
    infb = b.copy()
    infb[2] = np.inf
    cases = []

    def add(fn, fragment, id):
        cases.append(pytest.param(fn, fragment, id=id))

    add(lambda: th.population_loss(nanW, b), "nan", "population_loss NaN W")
    add(lambda: th.population_loss(W, infb), "inf", "population_loss inf b")
    add(lambda: th.population_loss(W, np.zeros(3)), "(3,)", "population_loss shapes")
    add(lambda: th.population_loss(np.zeros(4), b), "(4,)", "population_loss 1-D W")
    add(lambda: th.classify(nanW, b), "nan", "classify NaN W")
    add(lambda: th.classify(W, infb), "inf", "classify inf b")
    add(lambda: th.classify(W, np.zeros(5)), "(5,)", "classify shapes")
    add(lambda: th.enumerate_phases(1), "1", "enumerate_phases c=1")
    add(lambda: th.enumerate_phases(9), "9", "enumerate_phases c=9")
    add(lambda: th.enumerate_phases(6, 3), "3", "enumerate_phases r=3")
    add(lambda: th.enumerate_phases(6.5), "6.5", "enumerate_phases float c")
    add(lambda: th.free_energy([_phase()], [100.0, math.nan]), "nan", "free_energy NaN n")
    add(lambda: th.free_energy([_phase()], [-5.0]), "-5", "free_energy negative n")
    add(lambda: th.free_energy([_phase()], [math.inf]), "inf", "free_energy inf n")
    add(lambda: th.sample_inputs(0, 6, 0), "0", "sample_inputs n=0")
    add(lambda: th.sample_inputs(-3, 6, 0), "-3", "sample_inputs n<0")
    add(lambda: th.sample_inputs(10, 0, 0), "0", "sample_inputs c=0")
    add(lambda: th.sample_inputs(10.5, 6, 0), "10.5", "sample_inputs float n")
    return cases


def _engine_cases():
    cases = []

    def add(fn, fragment, id):
        cases.append(pytest.param(fn, fragment, id=id))

    def build(**kw):
        from bayes_tms import build_model
        from comparisons.theory import sample_inputs

        x = kw.pop("x", None)
        return build_model(sample_inputs(20, 4, 0) if x is None else x, **kw)

    nan_x = np.eye(4)[[0, 1, 2, 3, 0]]
    nan_x[1, 1] = np.nan
    add(lambda: build(x=nan_x), "nan", "build_model NaN x")
    add(lambda: build(x=np.zeros(5)), "(5,)", "build_model 1-D x")
    add(lambda: build(hidden=0), "0", "build_model hidden=0")
    add(lambda: build(beta=0.0), "0", "build_model beta=0")
    add(lambda: build(beta=math.nan), "nan", "build_model beta=nan")
    add(lambda: build(prior_sigma=-1.0), "-1", "build_model prior_sigma<0")
    add(lambda: build(likelihood="exact"), "exact", "build_model likelihood")

    def bayes(**kw):
        from bayes_tms import BayesConfig

        return BayesConfig(**{"features": 4, "ns": (40, 80), **kw})

    for kw, frag in [({"ns": ()}, "()"), ({"ns": (80, 40)}, "[80, 40]"), ({"ns": (40, 40)}, "[40, 40]"),
                     ({"features": 9}, "9"), ({"chains": 0}, "0"), ({"draws": -1}, "-1"),
                     ({"beta": math.inf}, "inf"), ({"target_accept": 1.0}, "1.0"), ({"backend": "stan"}, "stan")]:
        add(lambda kw=kw: bayes(**kw), frag, f"BayesConfig {kw}")

    def train_config(**kw):
        from sgd_tms.config import TrainConfig

        return TrainConfig(**kw)

    for kw, frag in [({"runs": 0}, "0"), ({"lr": math.nan}, "nan"), ({"lr": -0.1}, "-0.1"),
                     ({"epochs": 0}, "0"), ({"batch_size": 5000}, "5000"), ({"n": 3}, "3"),
                     ({"optimizer": "rmsprop"}, "rmsprop"), ({"init_k": 9}, "9"), ({"init_noise": math.inf}, "inf"),
                     ({"momentum": 1.0}, "1.0"), ({"dtype": "float16"}, "float16"), ({"device": "tpu"}, "tpu")]:
        add(lambda kw=kw: train_config(**kw), frag, f"TrainConfig {kw}")

    def llc_config(**kw):
        from sgd_tms.config import LLCConfig

        return LLCConfig(**kw)

    for kw, frag in [({"step_size": 0.0}, "0.0"), ({"step_size": math.nan}, "nan"), ({"gamma": -1.0}, "-1.0"),
                     ({"beta": math.inf}, "inf"), ({"chains": 0}, "0"), ({"draws": 0}, "0"),
                     ({"warmup": 500}, "500"), ({"escape_fraction": 0.0}, "0.0"), ({"thin": 0}, "0"),
                     ({"dtype": "half"}, "half")]:
        add(lambda kw=kw: llc_config(**kw), frag, f"LLCConfig {kw}")
    return cases


API_CASES = _api_cases() + _engine_cases()


@pytest.mark.parametrize("call, fragment", API_CASES)
def test_api_raises_input_error_naming_the_value(call, fragment):
    with pytest.raises(InputError) as info:
        call()
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


MORE_API = [
    pytest.param(lambda th: th.population_loss(np.zeros((3, 2, 4)), np.zeros((5, 4))), "(5, 4)",
                 id="population_loss batch shapes"),
    pytest.param(lambda th: th.population_loss_grad(np.eye(2, 4), np.array([0, np.nan, 0, 0])), "nan",
                 id="population_loss_grad NaN b"),
    pytest.param(lambda th: th.empirical_loss(np.eye(2, 4), np.zeros(4), np.full((3, 4), np.inf)), "inf",
                 id="empirical_loss inf x"),
    pytest.param(lambda th: th.empirical_loss(np.eye(2, 4), np.zeros(4), np.zeros((3, 5))), "(3, 5)",
                 id="empirical_loss x columns"),
    pytest.param(lambda th: th.forward(np.full((2, 4), np.nan), np.zeros(4), np.zeros((3, 4))), "nan",
                 id="forward NaN W"),
    pytest.param(lambda th: th.empirical_loss_grad(np.eye(2, 4), np.zeros(3), np.zeros((3, 4))), "(3,)",
                 id="empirical_loss_grad shapes"),
]


@pytest.mark.parametrize("call, fragment", MORE_API)
def test_potential_functions_refuse_nan_and_bad_shapes(call, fragment):
    from comparisons import theory

    with pytest.raises(InputError) as info:
        call(theory)
    assert fragment in str(info.value)


# -- issue 21 (items 5-8): every input the issue names, then a new round against what it builds ----
PT = ["bayes", "--features", "4", "--n", "40,80", "--copies", "2", "--sweeps", "20", "--warmup", "10",
      "--bootstrap", "20", "--no-progress", "--out", OUT]
MEASURE = ["llc", "--measure-phases", "-c", "6", "--phases", "4,5", "--out", OUT]
LLC_SWEEP = LLC + ["--ns", "1000", "--out", OUT]
RE_FLAGS = "replica-exchange flags (--sampler pt"  # the message names the sampler that uses them
NUTS_FLAGS = "NUTS flags, not used by --sampler pt"


def _issue21_cases():
    cases = []

    def add(argv, fragment, id):
        cases.append(pytest.param(argv, fragment, id=id))

    # the issue's own inputs
    add(BAYES + ["--population"], f"--population: {RE_FLAGS}", "issue: nuts --population")
    add(BAYES + ["--datasets", "3", "--conventions", "tempered,gaussian-sigma1"], f"--datasets, --conventions: {RE_FLAGS}",
        "issue: nuts --datasets 3 --conventions")
    add(BAYES + ["--copies", "0"], f"--copies: {RE_FLAGS}", "issue: nuts --copies 0")
    add(flag(flag(PT, "--sweeps", "10"), "--thin", "100"), "--sweeps: expected at least 10 kept draws per copy",
        "issue: pt --sweeps 10 --thin 100")
    add(flag(PT, "--n", "100,2000000"), "--n: expected sample sizes <= 1000000, got 2000000", "issue: pt n > 1e6")
    add(flag(PT, "--features", "9"), "--features: expected 2 <= c <= 8", "issue: pt --features 9")
    add(MEASURE + ["--method", "sgld"], "--measure-phases: expected none of --method", "issue: measure --method sgld")
    add(flag(MEASURE, "--phases", "4,4"), "--phases: expected each phase once, got 4", "issue: measure duplicate phases")
    # new round: flags of the other sampler, both ways
    # (--warmup is both samplers' warm-up: one flag, read by either)
    for name, value in [("--copies", "2"), ("--sweeps", "100"), ("--leapfrog", "5"),
                        ("--thin", "2"), ("--datasets", "3"), ("--conventions", "tempered")]:
        add(BAYES + [name, value], f"{name}: {RE_FLAGS}", f"nuts {name} {value}")
    add(BAYES + ["--copies", "2", "--thin", "2"], f"--copies, --thin: {RE_FLAGS}", "nuts two PT flags")
    for name, value in [("--chains", "4"), ("--draws", "100"), ("--backend", "pymc"),
                        ("--target-accept", "0.8"), ("--cores", "1")]:
        add(PT + [name, value], f"{name}: {NUTS_FLAGS}", f"pt {name} {value}")
    add(PT + ["--sampler", "pt", "--chains", "4", "--draws", "100"], f"--chains, --draws: {NUTS_FLAGS}", "pt two NUTS flags")
    # new round: replica exchange's own values and cross-field rules
    for name, value, fragment in [
            ("--sweeps", "9", "--sweeps: expected at least 10"), ("--sweeps", "0", "--sweeps"),
            ("--n", "1000001", "got 1000001"), ("--n", "2,80", "got 2"), ("--n", "80,40", "80, 40"),
            ("--n", "40,40", "40, 40"), ("--n", "x", "--n"), ("--n", "", "--n"), ("--features", "1", "--features"),
            ("--features", "x", "--features"), ("--hidden", "0", "--hidden"), ("--copies", "0", "--copies"),
            ("--copies", "-1", "--copies"), ("--copies", "1.5", "--copies"), ("--leapfrog", "0", "--leapfrog"),
            ("--thin", "0", "--thin"), ("--warmup", "-1", "--warmup"), ("--seed", "-1", "--seed"),
            ("--beta", "0", "--beta"), ("--beta", "nan", "--beta"), ("--prior-sigma", "inf", "--prior-sigma"),
            ("--bootstrap", "5", "--bootstrap"), ("--classifier", "paper", "paper"), ("--sampler", "hmc", "hmc"),
            ("--preset", "huge", "huge"), ("--preset", "tiny", "tiny"), ("--datasets", "0", "--datasets"),
            ("--datasets", "x", "--datasets")]:
        add(flag(PT, name, value), fragment, f"pt {name}={value!r}")
    add(flag(flag(PT, "--sweeps", "19"), "--thin", "2"), "sweeps / thin >= 10", "pt 19 sweeps thin 2 keeps 9")
    add(PT + ["--conventions", "tempered"], "--conventions: expected together with --datasets", "pt conventions alone")
    add(PT + ["--datasets", "2", "--conventions", "bogus"], "bogus", "pt unknown convention")
    add(PT + ["--datasets", "2", "--conventions", ","], "--conventions", "pt empty conventions")
    add(PT + ["--datasets", "2", "--beta", "0.5"], "--beta: expected --conventions with --datasets", "pt study --beta")
    # new round: NUTS cross-field rules shared with PT
    add(flag(BAYES, "--draws", "9"), "--draws: expected an integer >= 10", "nuts 9 kept draws")
    add(flag(BAYES, "--n", "40,1000001"), "got 1000001", "nuts n > 1e6")
    add(flag(BAYES, "--n", "2,80"), "got 2", "nuts n below features")
    # new round: llc --measure-phases, its unused flags and its phases
    for name, value in [("--method", "nuts"), ("--n", "1000"), ("--phase", "4"), ("--ns", "1000"),
                        ("--methods", "nuts"), ("--steps", "0.1"), ("--gammas", "10"), ("--gamma", "2"),
                        ("--beta", "0.5"), ("--chains", "2"), ("--draws", "100"), ("--warmup", "10"),
                        ("--step", "0.01"), ("--workers", "2")]:
        add(MEASURE + [name, value], f"--measure-phases: expected none of {name}", f"measure {name}")
    add(MEASURE + ["--calibrate"], "--measure-phases: expected none of --calibrate", "measure --calibrate")
    add(MEASURE + ["--dask-local"], "--measure-phases: expected none of --dask-local", "measure --dask-local")
    add(flag(MEASURE, "--phases", "4,5,4"), "got 4 more than once", "measure phase twice of three")
    add(flag(MEASURE, "--phases", "nope"), "--phases: expected phases of c = 6", "measure unknown phase")
    add(flag(MEASURE, "--phases", "4,7"), "got 7", "measure phase of another c")
    add(flag(MEASURE, "-c", "9"), "9", "measure c=9")
    add([a for a in MEASURE if a not in ("--out", OUT)], "--measure-phases: expected --out", "measure without --out")
    # new round: llc flags of another mode, choice lists
    add(LLC_SWEEP + ["--steps", "0.1"], "--steps: flags of --calibrate", "llc sweep --steps")
    add(LLC_SWEEP + ["--gammas", "1,10"], "--gammas: flags of --calibrate", "llc sweep --gammas")
    add(LLC + ["--workers", "2"], "--workers: flags of a sweep", "llc single --workers")
    add(LLC + ["--dask-local"], "--dask-local: flags of a sweep", "llc single --dask-local")
    add(flag(LLC, "--method", "SGLD"), "--method: expected one of nuts, sgld, got 'SGLD'", "llc --method SGLD")
    add(flag(LLC, "--method", ""), "--method: expected one of nuts, sgld", "llc --method empty")
    add(LLC + ["--format", "yaml"], "--format: expected one of text, json, got 'yaml'", "llc --format yaml")
    # new round: sgd, LLC flags under --no-llc, presets
    for name, value in [("--llc-chains", "2"), ("--llc-draws", "10"), ("--llc-step", "0.01"), ("--llc-gamma", "2"),
                        ("--llc-dtype", "float64")]:
        add(SGD + ["--no-llc", name, value], f"{name}: LLC flags, not used with --no-llc", f"sgd --no-llc {name}")
    for value in ("tiny", "QUICK", ""):
        add(flag(SGD, "--preset", value), "--preset: expected one of", f"sgd --preset {value!r}")
    # new round: reproduce and free-energy
    for value in ("smoke", "Quick", ""):
        add(flag(REPRO, "--preset", value), "--preset: expected one of", f"reproduce --preset {value!r}")
    for name, value, fragment in [("--n", "100,2000000", "2000000"), ("--n", "1000001", "1000001"),
                                  ("--particles", "9", "--particles"), ("--runs", "-1", "--runs"),
                                  ("--mutation-steps", "x", "--mutation-steps"), ("--seed", "1.5", "--seed")]:
        add(flag(FREE, name, value), fragment, f"free-energy {name}={value!r}")
    add(["nosuch"], "expected one of kgons", "unknown command")
    add(["bayes", "--version", "--out", OUT], "--version", "--version after a command")
    return cases


ISSUE21_CLI = _issue21_cases()


@pytest.mark.parametrize("argv, fragment", ISSUE21_CLI)
def test_issue21_inputs_are_refused_on_one_line_before_any_work(argv, fragment, tmp_path, capsys, no_work,
                                                                monkeypatch):
    test_cli_refuses_bad_input_on_one_line_before_any_work(argv, fragment, tmp_path, capsys, no_work, monkeypatch)


#: ``[section]`` TOML texts and the fragment of the one line each must give
TOML_CASES = [
    ('[bayes]\nout = ""\n', "out: expected a folder path"),
    ('[bayes]\nsampler = "nuts"\nn = [40, 80]\nfeatures = 4\ncopies = 2\nout = "{out}"\n', f"--copies: {RE_FLAGS}"),
    ('[bayes]\nn = [40, 80]\nfeatures = 4\nchains = 4\nout = "{out}"\n', f"--chains: {NUTS_FLAGS}"),
    ('[bayes]\nn = "abc"\n', "n"),
    ('[bayes]\nn = [100, 2000000]\nout = "{out}"\n', "2000000"),
    ('[bayes]\nn = [40, 80]\nfeatures = 4\nsweeps = 10\nthin = 100\nout = "{out}"\n', "--sweeps: expected at least 10"),
    ('[bayes]\nn = [40, 80]\nfeatures = 9\nout = "{out}"\n', "--features: expected 2 <= c <= 8"),
    ('[bayes]\nunknown_key = 1\n', "unknown key 'unknown_key'"),
    ('[bayes]\npopulation = "yes"\n', "expected true or false"),
    ('[bayes]\nsampler = "hmc"\n', "hmc"),
    ('[bayes]\nn = [40, 80]\nfeatures = 4\nconventions = "tempered"\nout = "{out}"\n', "--conventions"),
    ('[bayes]\ncopies = 0\nn = [40, 80]\nfeatures = 4\nout = "{out}"\n', "--copies"),
    ('[llc]\nmeasure_phases = true\nmethod = "sgld"\nout = "{out}"\n', "--measure-phases: expected none of --method"),
    ('[llc]\nmethod = "hmc"\n', "hmc"),
    ('[sgd]\nno_llc = true\nllc_chains = 3\nout = "{out}"\n', "--llc-chains: LLC flags"),
    ('[sgd]\npreset = "tiny"\n', "tiny"),
    ('[reproduce]\npreset = "smoke"\n', "smoke"),
    ('[free-energy]\nn = [100, 100]\nout = "{out}"\n', "100, 100"),
    ('[sgd]\nruns = 2\n', "[bayes]"),
    ('[bayes]\nn = \n', "TOML"),
]


@pytest.mark.parametrize("text, fragment", TOML_CASES, ids=[f"toml {i}" for i in range(len(TOML_CASES))])
def test_toml_inputs_are_refused_on_one_line_before_any_work(text, fragment, tmp_path, capsys, no_work, monkeypatch):
    section = text.split("]", 1)[0].lstrip("[")
    path = tmp_path / "cfg.toml"
    path.write_text(text.replace("{out}", str(tmp_path / "o")))
    command = "bayes" if section == "sgd" and "[bayes]" in fragment else section
    monkeypatch.chdir(tmp_path)
    assert main([command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, err


def test_toml_out_is_enough_no_out_flag_demanded(tmp_path, capsys, no_work):
    """TOML ``out`` is a valid key, so ``--out`` is no longer demanded: the run gets to its work."""
    path = tmp_path / "cfg.toml"
    path.write_text(f'[bayes]\nsampler = "nuts"\nn = [40, 80]\nfeatures = 4\nchains = 2\ndraws = 10\nwarmup = 10\n'
                    f'backend = "pymc"\ncores = 1\nout = "{tmp_path / "o"}"\n')
    with pytest.raises(WorkStarted):
        main(["bayes", "--config", str(path), "--no-progress"])
    assert "--out" not in capsys.readouterr().err


def test_duplicate_conventions_run_once():
    from comparisons.jobs.configs import SwitchStudyConfig

    assert SwitchStudyConfig(datasets=2, conventions="tempered,tempered").conventions == ("tempered",)
    assert SwitchStudyConfig(datasets=2, conventions="gaussian-sigma1,tempered,gaussian-sigma1").conventions == (
        "gaussian-sigma1", "tempered")


def test_version_prints_the_package_version(capsys):
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tms-phases {metadata.version('tms-phases')}"


def test_help_shows_every_preset_the_choice_lists_and_the_default_sampler(capsys):
    from comparisons.cli import build_parser

    def help_of(command=None):
        parser = build_parser(command)
        if command is None:
            return parser.format_help()
        sub = next(a for a in parser._actions if a.dest == "command")
        return sub.choices[command].format_help()

    top = " ".join(help_of().split())
    assert "replica exchange by default" in top and "NUTS with --sampler nuts" in top
    assert "{quick,paper,tiny}" in help_of("reproduce")
    assert "{quick,paper}" in help_of("bayes") and "{paper,quick,smoke}" in help_of("sgd")
    llc = help_of("llc")
    assert "{nuts,sgld}" in llc and "{text,json}" in llc


def _fake_bridge(monkeypatch, ns):
    """A NUTS run's occupancy.nc as the free-energy job reads it: ladder-bridge log masses at ``ns``."""
    import comparisons.contracts as contracts
    from occupancy_toys import occupancy_of

    cells = [{"n": n, "phase": "4", "fraction": 1.0} for n in ns]
    occ = occupancy_of({"nuts_bridge": cells}, log_mass={"nuts_bridge": [
        {"n": n, "phase": "4", "log_mass": 0.0, "lower": 0.0, "upper": 0.0} for n in ns]})
    monkeypatch.setattr(contracts, "read_occupancy", lambda path: occ)


def test_free_energy_refuses_a_bayes_dir_without_the_requested_n(tmp_path, capsys, no_work, monkeypatch):
    d = tmp_path / "bayes"
    d.mkdir()
    (d / "occupancy.nc").write_bytes(b"")
    _fake_bridge(monkeypatch, [100])
    argv = [a.replace(OUT, str(tmp_path / "o")) for a in FREE] + ["--bayes-dir", str(d)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without n = 200 (it has 100)" in err, err
    _fake_bridge(monkeypatch, [100, 200])  # every requested n there: the job starts
    with pytest.raises(WorkStarted):
        main(argv)


@pytest.mark.parametrize("argv, fragment", [
    (["--m", "inf"], "--m: expected a finite number > 0, got inf"),
    (["--m", "nan"], "--m: expected a finite number > 0"),
    (["--m", "-1"], "--m: expected a finite number > 0"),
    (["--m", "0"], "--m: expected a finite number > 0"),
    (["--repeats", "1"], "--repeats: expected at least 2"),
    (["--method", "is", "--samples", "inf"], "--samples: expected a finite number > 0"),
    (["--method", "is", "--scale", "0"], "--scale: expected a finite number > 0"),
    (["--method", "is", "--dof", "nan"], "--dof: expected a finite number > 0"),
    (["--target-accept", "1"], "--target-accept: expected a number in (0, 1)"),
    (["--warmup", "-1"], "--warmup: expected an integer >= 0"),
    (["--seed", "-5"], "--seed: expected an integer >= 0"),
    (["--phase", "nope"], "--phase: expected one of"),
    (["-c", "9"], "9"),
    (["--repeats", "500"], "--yes: expected for a run estimated at about"),
])
def test_check_population_point_refuses_on_one_line(argv, fragment, capsys, monkeypatch):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "check_population_point", Path(__file__).resolve().parents[1] / "benchmarks" / "check_population_point.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def refuse(*a, **k):
        raise WorkStarted("sampled before the input was checked")

    monkeypatch.setattr(module, "nuts_lambda", refuse)
    monkeypatch.setattr(module, "importance_lambda", refuse)
    with pytest.raises(SystemExit) as info:
        module.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err, err


def _issue21_api_cases():
    import xarray as xr

    from comparisons import theory as th

    phases = th.enumerate_phases(6)
    cases = []

    def add(fn, fragment, id):
        cases.append(pytest.param(fn, fragment, id=id))

    # the issue's own calls
    add(lambda: th.dominant_intervals([], 10, 1e6), "phases", "issue: dominant_intervals([])")

    def sgd_sequences(ds):
        from sgd_tms import phase_sequences

        return phase_sequences(ds)

    def preset_config(*a, **k):
        from bayes_tms import preset_config as pc

        return pc(*a, **k)

    def sgd_preset(*a, **k):
        from sgd_tms import preset

        return preset(*a, **k)

    add(lambda: sgd_sequences(xr.Dataset()), "trajectory", "issue: phase_sequences(Dataset())")
    add(lambda: preset_config("quick", bogus_key=1), "bogus_key", "issue: preset_config bogus_key")
    add(lambda: sgd_preset("quick", unknown=1), "unknown", "issue: sgd preset unknown")

    def pt(**kw):
        from bayes_tms.pt import PTConfig

        return PTConfig(**{"ns": (100, 200), **kw})

    add(lambda: pt(features=9), "features", "issue: PTConfig(features=9)")
    add(lambda: pt(ns=(100, 2_000_000)), "2000000", "issue: PTConfig n > 1e6")
    add(lambda: pt(sweeps=10, thin=100), "sweeps", "issue: PTConfig sweeps 10 thin 100")
    # new round: theory
    for fn, fragment, id in [
            (lambda: th.dominant_intervals(phases, "a", 1e6), "n_min", "dominant_intervals n_min str"),
            (lambda: th.dominant_intervals(phases, 10, 1e6, llc=5), "llc", "dominant_intervals llc int"),
            (lambda: th.dominant_intervals(phases, 10, 1e6, llc={"6": -1.0}), "llc['6']", "dominant_intervals llc<0"),
            (lambda: th.dominant_intervals(phases, 10, 1e6, llc={"6": "x"}), "llc['6']", "dominant_intervals llc str"),
            (lambda: th.dominant_intervals(phases, 10, 1e6, beta=0), "beta", "dominant_intervals beta 0"),
            (lambda: th.dominant_intervals(phases, 1e6, 10), "n range", "dominant_intervals reversed"),
            (lambda: th.dominant_intervals("6", 10, 1e6), "phases", "dominant_intervals str phases"),
            (lambda: th.dominant_intervals([1, 2], 10, 1e6), "Phase", "dominant_intervals ints"),
            (lambda: th.dominant_intervals(phases, 10, math.inf), "n", "dominant_intervals inf"),
            (lambda: th.dominant_intervals(phases, 10, 1e6, prior_sigma="x"), "prior_sigma", "dominant_intervals sigma"),
            (lambda: th.crossings(phases, n_max=math.nan), "n range", "crossings nan"),
            (lambda: th.crossings(phases, prior_sigma=0), "prior_sigma", "crossings sigma 0"),
            (lambda: th.crossings(phases[0], 1e6), "phases", "crossings one Phase"),
            (lambda: th.free_energy(phases, []), "n", "free_energy empty n"),
            (lambda: th.free_energy(phases, "abc"), "n", "free_energy str n"),
            (lambda: th.free_energy([], 100.0), "phases", "free_energy no phases"),
            (lambda: th.dominant_phase([], 100.0), "phases", "dominant_phase no phases"),
            (lambda: th.enumerate_phases("6"), "6", "enumerate_phases str"),
            (lambda: th.enumerate_phases(10**30), "features", "enumerate_phases huge")]:
        add(fn, fragment, id)
    # new round: library entry points with the wrong kind of thing
    add(lambda: sgd_sequences(5), "xarray.Dataset", "phase_sequences int")
    add(lambda: sgd_sequences(xr.Dataset({"W": ("run", [1.0])})), "dims", "phase_sequences partial")
    add(lambda: preset_config(["quick"]), "preset", "preset_config list name")
    add(lambda: preset_config("huge"), "huge", "preset_config unknown")
    add(lambda: preset_config("quick", features=9), "features", "preset_config c=9")
    add(lambda: preset_config("quick", features="6"), "features", "preset_config c str")
    add(lambda: preset_config("quick", chains="8"), "chains", "preset_config chains str")
    add(lambda: preset_config("quick", draws=5), "draws", "preset_config draws 5")
    add(lambda: preset_config("quick", ns=(100, 2_000_000)), "2000000", "preset_config n > 1e6")
    add(lambda: sgd_preset(5), "preset", "sgd preset int")
    add(lambda: sgd_preset("quick", runs="x"), "runs", "sgd preset runs str")
    add(lambda: sgd_preset("quick", betas=(2, 0)), "betas", "sgd preset betas")
    add(lambda: sgd_preset("quick", lr=[1]), "lr", "sgd preset lr list")
    add(lambda: sgd_preset("quick", momentum="x"), "momentum", "sgd preset momentum str")
    add(lambda: sgd_preset("quick", shared_data="yes"), "shared_data", "sgd preset shared_data str")
    add(lambda: sgd_preset("quick", device=5), "device", "sgd preset device int")
    # new round: config constructors
    add(lambda: pt(ns="abc"), "ns", "PTConfig ns str")
    add(lambda: pt(ns=((100,),)), "ns", "PTConfig nested ns")
    add(lambda: pt(beta="1"), "beta", "PTConfig beta str")
    add(lambda: pt(copies=2.0), "copies", "PTConfig copies float")
    add(lambda: pt(ns=(2, 100)), "ns", "PTConfig n below c")
    add(lambda: pt(thin=3, sweeps=29), "sweeps", "PTConfig 9 kept")
    add(lambda: pt(population=1), "population", "PTConfig population int")

    def bayes(**kw):
        from bayes_tms import BayesConfig

        return BayesConfig(**kw)

    add(lambda: bayes(draws=5), "draws", "BayesConfig draws 5")
    add(lambda: bayes(chains="2"), "chains", "BayesConfig chains str")
    add(lambda: bayes(ns=(100, 2_000_000)), "2000000", "BayesConfig n > 1e6")
    add(lambda: bayes(ns=[100, 200]), "n", "BayesConfig list ns")
    add(lambda: bayes(extra=5), "extra", "BayesConfig extra int")

    def smc(**kw):
        from bayes_tms.config import SMCConfig

        return SMCConfig(**{"ns": (100,), **kw})

    add(lambda: smc(ns=(100, 2_000_000)), "2000000", "SMCConfig n > 1e6")
    add(lambda: smc(features=9), "features", "SMCConfig c=9")
    add(lambda: smc(particles=1.5), "particles", "SMCConfig particles float")

    def settings(cls_path, **kw):
        module, name = cls_path.rsplit(".", 1)
        import importlib

        return getattr(importlib.import_module(module), name)(**kw)

    add(lambda: settings("comparisons.theory.LLCSettings", gamma="1"), "gamma", "LLCSettings gamma str")
    add(lambda: settings("comparisons.theory.LLCSettings", chains=2.0), "chains", "LLCSettings chains float")
    add(lambda: settings("sgd_tms.config.LLCConfig", dtype=5), "dtype", "LLCConfig dtype int")
    add(lambda: settings("bayes_tms.llc.NUTSLLCConfig", backend=3), "backend", "NUTSLLCConfig backend int")
    add(lambda: settings("bayes_tms.llc.NUTSLLCConfig", warmup="x"), "warmup", "NUTSLLCConfig warmup str")
    add(lambda: settings("sgd_tms.config.TrainConfig", betas=5), "betas", "TrainConfig betas int")
    return cases


ISSUE21_API = _issue21_api_cases()


@pytest.mark.parametrize("call, fragment", ISSUE21_API)
def test_issue21_api_raises_input_error(call, fragment):
    with pytest.raises(InputError) as info:
        call()
    assert fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_issue21_round_is_large():
    """The issue's inputs plus at least 100 new ones (command line, TOML, benchmark script, API)."""
    assert len(ISSUE21_CLI) + len(TOML_CASES) + len(ISSUE21_API) + 14 >= 15 + 100
