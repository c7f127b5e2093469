"""Flag parsers and the TOML configuration file: one-line InputErrors, explicit flags win."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from comparisons.config_file import (apply_config_defaults, check_positive_float, find_config_arg,
                                     int_list_arg, load_config_section, merge_config, parse_float_list,
                                     parse_int_list, positive_float_arg, positive_int_arg)
from comparisons.errors import InputError
from comparisons.theory import check_beta, enumerate_phases
from comparisons.theory.laplace import laplace_free_energy


def test_sweep_imports_neither_engines_nor_dask():
    code = ("import sys, comparisons.sweep, comparisons.config_file; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.split())
    assert not mods & {"torch", "pymc", "pytensor", "arviz", "dask", "distributed"}


def test_list_parsers():
    assert parse_int_list("--n", "100,200") == (100, 200)
    assert parse_int_list("--n", "100 200, 300") == (100, 200, 300)
    assert parse_int_list("--n", [100, 200]) == (100, 200)
    assert parse_float_list("--beta", "0.5,2") == (0.5, 2.0)
    assert check_positive_float("--lr", "1e-3") == 1e-3


@pytest.mark.parametrize("call, message", [
    (lambda: parse_int_list("--n", "100,abc"), "--n: expected a comma-separated list of integers >= 1, got '100,abc'"),
    (lambda: parse_int_list("--n", "100,0"), "--n: expected a comma-separated list of integers >= 1, got 0"),
    (lambda: parse_int_list("--n", ""), "--n: expected a comma-separated list of integers >= 1, got ''"),
    (lambda: parse_int_list("--n", [1.5]), "--n: expected a comma-separated list of integers >= 1, got [1.5]"),
    (lambda: parse_float_list("--beta", "1,inf"), "--beta: expected a finite number > 0, got 'inf'"),
    (lambda: check_positive_float("--lr", 0), "--lr: expected a finite number > 0, got 0"),
    (lambda: positive_int_arg("--workers")("0"), "--workers: expected an integer >= 1, got 0"),
    (lambda: positive_int_arg("--draws")("ten"), "--draws: expected an integer >= 1, got 'ten'"),
    (lambda: positive_float_arg("--lr")("-1"), "--lr: expected a finite number > 0, got '-1'"),
    (lambda: check_positive_float("prior_sigma", np.True_), "prior_sigma: expected a finite number > 0, got np.True_"),
    # the theory's checks are the same validator, with the same message
    (lambda: check_beta(-1), "beta: expected a finite number > 0, got -1"),
    (lambda: laplace_free_energy(enumerate_phases(4), 100.0, prior_sigma=0.0),
     "prior_sigma: expected a finite number > 0, got 0.0"),
])
def test_bad_flag_values_are_one_line_input_errors(call, message):
    with pytest.raises(InputError) as info:
        call()
    assert str(info.value) == message


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--n", type=int_list_arg("--n"), default=(100,))
    p.add_argument("--runs", type=positive_int_arg("--runs"), default=10)
    p.add_argument("--target-accept", type=positive_float_arg("--target-accept"), default=0.8)
    p.add_argument("--executor", choices=["inline", "process"], default="inline")
    p.add_argument("--dask-local", action="store_true")
    return p


def test_toml_section_under_explicit_flags(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('[sgd]\nn = [200, 400]\nruns = 5\ntarget-accept = 0.9\ndask_local = true\n'
                   '[bayes]\nruns = 7\n')
    argv = ["--config", str(cfg), "--runs", "3"]
    parser = _parser()
    assert find_config_arg(argv) == str(cfg) and find_config_arg([f"--config={cfg}"]) == str(cfg)
    assert find_config_arg(["--runs", "3"]) is None
    applied = apply_config_defaults(parser, find_config_arg(argv), "sgd")
    assert applied == {"n": (200, 400), "runs": 5, "target_accept": 0.9, "dask_local": True}
    args = parser.parse_args(argv)
    assert (args.n, args.runs, args.target_accept, args.dask_local, args.executor) == (
        (200, 400), 3, 0.9, True, "inline")
    assert load_config_section(cfg, "bayes") == {"runs": 7}
    assert merge_config({"runs": 7}, {"runs": 2}, ["runs"]) == {"runs": 2}


@pytest.mark.parametrize("text, message", [
    ("[sgd]\nwarmup = 3\n", "[sgd]: unknown key 'warmup'; expected one of "
     "dask_local, executor, n, runs, target_accept"),
    ("[sgd]\nruns = 0\n", "--config [sgd] runs: expected an integer >= 1, got 0"),
    ("[sgd]\nn = [100, -5]\n", "--config [sgd] n: expected a comma-separated list of integers >= 1, got -5"),
    ("[sgd]\nexecutor = 'dask'\n", "--config [sgd] executor: expected one of inline, process, got 'dask'"),
    ("[sgd]\ndask_local = 'yes'\n", "--config [sgd] dask_local: expected true or false, got 'yes'"),
    ("[bayes]\nruns = 3\n", "expected a [sgd] table, got tables bayes"),
    ("[sgd\n", "expected valid TOML"),
])
def test_bad_toml_is_one_line_input_error(tmp_path, text, message):
    cfg = tmp_path / "study.toml"
    cfg.write_text(text)
    with pytest.raises(InputError) as info:
        apply_config_defaults(_parser(), cfg, "sgd")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_config_file_and_unknown_merge_key(tmp_path):
    with pytest.raises(InputError, match="--config: expected a readable TOML file, got .*nope.toml"):
        load_config_section(tmp_path / "nope.toml", "sgd")
    with pytest.raises(InputError, match="config: unknown key 'lrr'; expected one of lr, runs"):
        merge_config({"lrr": 1}, {}, ["runs", "lr"])
    with pytest.raises(InputError, match="--config: expected a TOML file path, got nothing"):
        find_config_arg(["--config"])


@pytest.mark.parametrize("module", ["comparisons.config_file", "comparisons.sweep.task"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_sweep_flags_translate_to_run_sweep_arguments(tmp_path):
    from comparisons.sweep import add_sweep_arguments, sweep_kwargs

    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    assert sweep_kwargs(parser.parse_args([])) == {
        "executor": "auto", "workers": None, "scheduler": None, "retries": 2, "progress": True}
    assert sweep_kwargs(parser.parse_args(["--dask-local", "--workers", "2"]))["scheduler"] == "local"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sgd]\nretries = 5\nworkers = 3\n")
    apply_config_defaults(parser, cfg, "sgd")
    kw = sweep_kwargs(parser.parse_args(["--config", str(cfg), "--workers", "1"]))
    assert (kw["retries"], kw["workers"]) == (5, 1)
    with pytest.raises(InputError, match="--dask-local: expected no --scheduler with it"):
        sweep_kwargs(parser.parse_args(["--dask-local", "--scheduler", "tcp://h:1"]))
    with pytest.raises(InputError, match="--scheduler: expected --executor auto or dask with it, got 'process'"):
        sweep_kwargs(parser.parse_args(["--executor", "process", "--scheduler", "tcp://h:1"]))


def test_workers_turn_the_in_process_default_into_a_pool():
    """A PT study and the SMC ladder run one task at a time by default; --workers N > 1 or Dask
    flags ask for more, and an executor the user named is kept."""
    from types import SimpleNamespace

    from comparisons.sweep import pool_when_asked

    def ns(**kw):
        return SimpleNamespace(**{"executor": None, "workers": None, "scheduler": None, "dask_local": False, **kw})

    assert pool_when_asked(ns()) == "inline" and pool_when_asked(ns(workers=1, executor="inline")) == "inline"
    assert pool_when_asked(ns(workers=2)) == "process" and pool_when_asked(ns(executor="inline", workers=2)) == "process"
    assert pool_when_asked(ns(dask_local=True)) == "dask" and pool_when_asked(ns(scheduler="tcp://h:1")) == "dask"
    assert pool_when_asked(ns(executor="process")) == "process"
    assert pool_when_asked(ns(executor="auto", workers=2)) == "auto"


def test_workers_that_change_nothing_are_said(capsys):
    """The NUTS ladder and the LLC sweep stay in-process with --workers alone (their samplers use
    the cores): one line on stderr says so and how to ask for a pool, instead of dropping the flag."""
    from types import SimpleNamespace

    from comparisons.sweep import pool_when_asked

    def ns(**kw):
        return SimpleNamespace(**{"executor": "inline", "workers": None, "scheduler": None, "dask_local": False, **kw})

    assert pool_when_asked(ns(workers=2), processes=False) == "inline"
    err = capsys.readouterr().err
    assert "--workers 2" in err and "--executor process" in err and len(err.strip().splitlines()) == 1
    for quiet in (ns(), ns(workers=1), ns(executor="process", workers=2), ns(dask_local=True, workers=2)):
        pool_when_asked(quiet, processes=False)
        assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["bayes", "free-energy", "llc", "reproduce", "sgd"])
def test_executor_help_states_the_default_that_applies(command):
    """`--executor`'s help names the command's own default ("auto" only where it is auto)."""
    from comparisons.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    action = next(a for a in sub._actions if a.dest == "executor")
    default = {"reproduce": None, "sgd": "auto"}.get(command, "inline")
    assert action.default == default
    assert f"(default: {default or 'each stage'}" in action.help


@pytest.mark.parametrize("command", ["free-energy", "reproduce"])
def test_smc_ladder_uses_the_workers_it_is_given(tmp_path, monkeypatch, command):
    """`free-energy --workers 2` (alone, or as a stage of `reproduce`) runs two n at a time: the
    flag was ignored and every n ran in turn in one process."""
    from types import SimpleNamespace

    import comparisons.jobs.free_energy as fe
    from comparisons.cli import build_parser, main

    seen = {}

    def fake_job(config, out, *, bayes_dir=None, sweep=None, yes=False):
        seen.update(sweep)
        return SimpleNamespace(status=0)

    monkeypatch.setattr(fe, "free_energy_job", fake_job)
    if command == "free-energy":
        assert main(["free-energy", "--n", "100,200", "--workers", "2", "--out", str(tmp_path / "f")]) == 0
        assert (seen["executor"], seen["workers"]) == ("process", 2)
        seen.clear()
        assert main(["free-energy", "--n", "100,200", "--out", str(tmp_path / "g")]) == 0
        assert seen["executor"] == "inline"
    else:
        from comparisons.cli.reproduce import plan

        args = build_parser("reproduce").parse_args(["reproduce", "--workers", "2", "--out", str(tmp_path)])
        plan(args)["smc"].run(True)
        assert (seen["executor"], seen["workers"]) == ("process", 2)
