"""Flags generated from the config dataclasses: one default, one help text, one validator each."""

from __future__ import annotations

import argparse
import dataclasses
import shlex

import pytest

from comparisons.cli import build_parser, main
from comparisons.cli.flags import FlagTable


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _tables():
    from comparisons.cli.bayes import nuts_flags, pt_flags
    from comparisons.cli.sgd import llc_flags, train_flags

    from comparisons.cli.free_energy import smc_flags

    return {"bayes": [nuts_flags(), pt_flags()], "sgd": [train_flags(), llc_flags()],
            "free-energy": [smc_flags()]}


@pytest.mark.parametrize("command", ["bayes", "sgd", "free-energy"])
def test_every_field_with_help_is_a_flag_that_shows_its_dataclass_default(command):
    parser = subparser(command)
    formatter = parser._get_formatter()
    for table in _tables()[command]:
        defaults = {f.name: f.default for f in dataclasses.fields(table.cls)}
        for flag in table:
            action = parser._option_string_actions[flag.flag]
            assert action.default is None, flag.flag  # "not given": a preset's value applies
            text = formatter._get_help_string(action)
            assert flag.help and text.startswith(flag.help.split(" (")[0]), flag.flag
            default = defaults[flag.field]
            if flag.default_text:
                assert f"(default: {flag.default_text})" in text, text
            elif default is not None and default is not dataclasses.MISSING and not flag.switch \
                    and flag.field != "ns":
                shown = ",".join(map(str, default)) if isinstance(default, tuple) else f"{default:g}" \
                    if isinstance(default, float) else str(default)
                assert f"(default: {shown})" in text, text


def test_the_bayes_and_sgd_tables_cover_every_field_with_help():
    from bayes_tms.config import BayesConfig, SMCConfig
    from sgd_tms.config import LLCConfig, TrainConfig

    for cls in (BayesConfig, SMCConfig, TrainConfig, LLCConfig):
        with_help = {f.name for f in dataclasses.fields(cls) if "help" in f.metadata}
        assert {f.field for f in FlagTable(cls)} == with_help and with_help


def test_shared_parameters_are_one_flag_with_one_definition():
    """``--n, --seed, --beta, --features`` of NUTS and PT are one flag each (the NUTS table's)."""
    parser = subparser("bayes")
    for name in ("--n", "--seed", "--beta", "--features", "--prior-sigma", "--hidden"):
        assert sum(name in a.option_strings for a in parser._actions) == 1, name
    pt = {f.flag: f for f in _tables()["bayes"][1]}
    nuts = {f.flag: f for f in _tables()["bayes"][0]}
    for name in ("--n", "--seed", "--beta", "--features"):
        assert pt[name].dest == nuts[name].dest and pt[name].help == nuts[name].help


def test_the_bayesian_configs_share_one_definition_of_their_common_parameters():
    from bayes_tms.config import SHARED, BayesConfig, SMCConfig
    from bayes_tms.pt import PTConfig

    for cls in (BayesConfig, PTConfig, SMCConfig):
        meta = {f.name: f.metadata for f in dataclasses.fields(cls)}
        for name in ("features", "ns", "seed", "beta", "prior_sigma"):
            assert dict(meta[name]) == SHARED[name], (cls.__name__, name)


@pytest.mark.parametrize("command", ["bayes", "sgd", "llc", "free-energy", "theory", "kgons", "reproduce"])
def test_help_works_and_shows_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "usage: tms-phases" in out and "default" in out


BAYES = "bayes --sampler nuts --features 4 --n 40,80 --chains 2 --draws 10 --warmup 10 --backend pymc --cores 1 --no-progress"
PT = "bayes --sampler pt --n 40,80 --no-progress"
SGD = "sgd --preset smoke --runs 2 --epochs 5 --no-progress"
FREE = "free-energy --features 4 --n 100,200 --no-progress"


@pytest.mark.parametrize("argv, message", [
    (f"{BAYES} --chains 0", "--chains: expected an integer >= 1, got 0"),
    (f"{BAYES} --chains x", "--chains: expected an integer, got 'x'"),
    (f"{BAYES} --target-accept 1.5", "--target-accept: expected a number in (0, 1), got 1.5"),
    (f"{BAYES} --backend jax", "--backend: expected one of pymc, nutpie, got 'jax'"),
    (f"{BAYES} --n 80,40", "--n: expected increasing distinct sample sizes, got [80, 40]"),
    (f"{BAYES} --prior-sigma -1", "--prior-sigma: expected a finite number > 0, got -1.0"),
    ("bayes --sampler nuts --preset quick --features 3 --no-progress",
     "--features: preset 'quick' covers c in 4..8, got 3"),
    ("bayes --preset quick --features 3 --no-progress", "--features: preset 'quick' covers c in 4..8, got 3"),
    (f"{PT} --copies 0", "--copies: expected an integer >= 1, got 0"),
    (f"{PT} --warmup -1", "--warmup: expected an integer >= 0, got -1"),
    (f"{PT} --n 40,40", "--n: expected increasing distinct sample sizes, got [40, 40]"),
    (f"{PT} --chains 3", "--chains: NUTS flags, not used by --sampler pt"),
    (f"{SGD} --lr 0", "--lr: expected a finite number > 0, got 0.0"),
    (f"{SGD} --batch-size 500", "--batch-size: expected at most n = 200, got 500"),
    (f"{SGD} --init-k 9", "--init-k: expected 2 <= k <= features = 6, got 9"),
    (f"{SGD} --llc-step 0", "--llc-step: expected a finite number > 0, got 0.0"),
    (f"{SGD} --llc-warmup 600", "--llc-warmup: expected fewer than draws = 500, got 600"),
    (f"{SGD} --llc-dtype half", "--llc-dtype: expected 'float32' or 'float64', got 'half'"),
    (f"{FREE} --particles 5", "--particles: expected an integer >= 10, got 5"),
    (f"{FREE} --mutation-steps 0", "--mutation-steps: expected an integer >= 1, got 0"),
    (f"{FREE} --beta nan", "--beta: expected a finite number > 0, got nan"),
    (f"{FREE} --n 200,100", "--n: expected increasing distinct sample sizes, got [200, 100]"),
    ("free-energy --features 9 --n 100,200", "--features: expected 2 <= c <= 8 (the k-gon phases that classify the draws), got 9"),
    ("free-energy --features 4", "--n: expected a comma-separated ladder of sample sizes, got none"),
])
def test_an_invalid_value_names_its_flag_on_one_line(argv, message, tmp_path, capsys, monkeypatch):
    import comparisons.sweep as sweep
    import comparisons.sweep.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the input was validated")

    monkeypatch.setattr(runner, "run_sweep", refuse)
    monkeypatch.setattr(sweep, "run_sweep", refuse)
    assert main([*shlex.split(argv), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def _parse(command: str, argv: list[str], toml=None):
    from comparisons.config_file import apply_config_defaults

    parser = build_parser(command)
    if toml is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        apply_config_defaults(sub.choices[command], toml, command)
    return parser.parse_args([command, *argv])


def test_toml_and_flags_build_the_same_configs(tmp_path):
    from comparisons.cli.bayes import config_from_args, pt_config_from_args
    from comparisons.cli.sgd import _configs

    toml = tmp_path / "study.toml"
    toml.write_text('[bayes]\nn = [40, 80]\nchains = 3\ntarget-accept = 0.8\nbackend = "pymc"\n'
                    'beta = 0.5\n\n[sgd]\npreset = "smoke"\nlr = 0.01\nllc-chains = 2\nllc_step = 0.002\n'
                    'shared-data = true\n')
    flags = ["--n", "40,80", "--chains", "3", "--target-accept", "0.8", "--backend", "pymc", "--beta", "0.5"]
    out = ["--out", str(tmp_path)]
    assert config_from_args(_parse("bayes", out, toml)) == config_from_args(_parse("bayes", flags + out))
    sgd = ["--preset", "smoke", "--lr", "0.01", "--llc-chains", "2", "--llc-step", "0.002", "--shared-data"]
    from_toml, from_flags = _configs(_parse("sgd", out, toml)), _configs(_parse("sgd", sgd + out))
    assert from_toml == from_flags and from_flags[0].lr == 0.01 and from_flags[1].step_size == 0.002
    # explicit flags win over the file
    assert config_from_args(_parse("bayes", ["--chains", "5", *out], toml)).chains == 5
    pt_toml = tmp_path / "pt.toml"
    pt_toml.write_text("[bayes]\nsampler = 'pt'\nn = '40,80'\ncopies = 3\npopulation = true\n")
    config, study = pt_config_from_args(_parse("bayes", out, pt_toml))
    assert (config.ns, config.copies, config.population, study) == ((40, 80), 3, True, None)


@pytest.mark.parametrize("text, message", [
    ("[sgd]\npreset = 'smoke'\nlr = 0\n", "--lr: expected a finite number > 0, got 0.0"),
    ("[bayes]\nsampler = 'nuts'\nn = [40, 80]\nchains = 0\n", "--chains: expected an integer >= 1, got 0"),
    ("[bayes]\nsampler = 'nuts'\nn = [40, 80]\nchains = 'x'\n", "--config [bayes] chains: expected an integer, got 'x'"),
])
def test_a_bad_toml_value_is_checked_by_the_same_validator(text, message, tmp_path, capsys):
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    command = text[1:text.index("]")]
    assert main([command, "--config", str(toml), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize("preset", ["tiny", "quick", "paper"])
def test_reproduce_builds_the_configs_its_engine_commands_would(preset, tmp_path):
    """Each stage's configuration equals the one its printed ``tms-phases`` command builds."""
    from comparisons.cli.bayes import config_from_args, pt_config_from_args
    from comparisons.cli.free_energy import smc_config, smc_flags
    from comparisons.cli.reproduce import PRESETS, plan
    from comparisons.cli.sgd import _configs

    args = _parse("reproduce", ["--preset", preset, "--out", str(tmp_path), "--seed", "3", "--no-progress"])
    stages = plan(args)
    assert list(stages) == list(PRESETS[preset])
    for name, planned in stages.items():
        argv = shlex.split(planned.command)[1:]
        parsed = _parse(argv[0], argv[1:])
        stage = PRESETS[preset][name]
        if stage.job == "nuts":
            assert config_from_args(parsed) == planned.config
        elif stage.job == "pt":
            assert pt_config_from_args(parsed) == planned.config
        elif stage.job == "smc":
            assert smc_config(**smc_flags().given(parsed)) == planned.config
            assert parsed.bayes_dir == str(tmp_path / "bayes")
        elif stage.job == "figure2":  # samples nothing: the reproduce run that rebuilds its Bayesian stages
            assert (parsed.preset, parsed.skip_sgd, parsed.out, parsed.seed) == (preset, True, str(tmp_path), 3)
            assert planned.seconds > 0 and "--features 6" in planned.command
            continue
        else:
            assert _configs(parsed) == planned.config
        assert planned.seconds > 0 and f"--out {tmp_path / name}" in planned.command
        assert "--seed 3" in planned.command and "--features 6" in planned.command


def test_flags_docstring_example_runs():
    import doctest

    import comparisons.cli.flags as flags

    result = doctest.testmod(flags)
    assert result.failed == 0 and result.attempted > 0


def test_a_metadata_parser_reads_the_value_and_its_error_names_the_flag():
    @dataclasses.dataclass(frozen=True)
    class Config:
        rule: str = dataclasses.field(default="a", metadata={
            "help": "rule", "flag": "the-rule", "parse": lambda text: {"a": "a", "b": "b"}[text.lower()]})
        ns: tuple[int, ...] = dataclasses.field(default=(1,), metadata={"help": "ladder"})

    table = FlagTable(Config, prefix="x-")
    parser = argparse.ArgumentParser()
    table.add_to(parser)
    assert table.build(Config, **table.given(parser.parse_args(["--x-the-rule", "B", "--x-ns", "3,4"]))) \
        == Config("b", (3, 4))
    from comparisons.errors import InputError

    with pytest.raises(InputError, match=r"^--x-the-rule: expected a valid value, got 'c'$"):
        parser._option_string_actions["--x-the-rule"].type("c")
    with pytest.raises(InputError, match=r"^--x-ns: expected comma-separated integers, got '3,x'$"):
        parser._option_string_actions["--x-ns"].type("3,x")


def test_replica_exchange_is_the_default_sampler_and_the_classifier_reaches_both(tmp_path):
    from comparisons.cli.bayes import config_from_args, pt_config_from_args

    out = ["--out", str(tmp_path), "--n", "40,80"]
    assert _parse("bayes", out).sampler == "pt"
    nuts = config_from_args(_parse("bayes", ["--sampler", "nuts", "--classifier", "gated", *out]))
    assert nuts.classifier == "gated" and config_from_args(_parse("bayes", ["--sampler", "nuts", *out])).classifier == "hull"
    config, _ = pt_config_from_args(_parse("bayes", ["--classifier", "gated", *out]))
    assert config.classifier == "gated"
    assert pt_config_from_args(_parse("bayes", out))[0].classifier == "hull"  # the paper's rule by default
