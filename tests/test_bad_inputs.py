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

    monkeypatch.setattr(runner, "run_sweep", refuse)
    monkeypatch.setattr(sweep, "run_sweep", refuse)
    for name in ("llc_estimate", "calibration_table"):
        monkeypatch.setattr(acc, name, refuse)
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


BAYES = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "2", "--draws", "10", "--tune", "10",
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
        add(BAYES, "--tune", v)
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
    add(SGD, "--llc-burn-in", "-1")
    add(SGD, "--llc-burn-in", "600")
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
    for name, v in [("--preset", "huge"), ("--features", "3"), ("--features", "7"), ("--features", "x"),
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
                     ({"burn_in": 500}, "500"), ({"escape_fraction": 0.0}, "0.0"), ({"thin": 0}, "0"),
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
