"""One LLC configuration: the settings shared by NUTS and SGLD are declared once (LLCSettings)."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest

from comparisons.cli import build_parser, main
from comparisons.errors import InputError
from comparisons.theory import LLCSettings, llc_beta

SHARED = ("gamma", "beta", "chains", "draws", "seed")
FLAGS = ("gamma", "beta", "chains", "draws")


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _configs():
    from sgd_tms.config import LLCConfig

    bayes_llc = pytest.importorskip("bayes_tms.llc")
    return LLCConfig, bayes_llc.NUTSLLCConfig


def test_the_engine_configs_inherit_one_definition_of_each_shared_setting():
    base = {f.name: f for f in dataclasses.fields(LLCSettings)}
    for cls in _configs():
        assert issubclass(cls, LLCSettings)
        mine = {f.name: f for f in dataclasses.fields(cls)}
        for name in SHARED:
            assert dict(mine[name].metadata) == dict(base[name].metadata), (cls.__name__, name)
            if name != "draws":  # the one per-sampler default: SGLD steps vs NUTS kept draws
                assert mine[name].default == base[name].default, (cls.__name__, name)
    sgld, nuts = _configs()
    assert (sgld().draws, nuts().draws) == (500, 1000)


def test_one_definition_per_shared_flag_across_sgd_and_llc():
    from comparisons.cli.llc import llc_flags as llc_table
    from comparisons.cli.sgd import llc_flags as sgd_table

    sgd = {f.field: f for f in sgd_table()}
    llc = {f.field: f for f in llc_table()}
    llc_parser, sgd_parser = subparser("llc"), subparser("sgd")
    for name in FLAGS:
        assert llc[name].help == sgd[name].help, name
        assert llc[name].flag == "--" + name.replace("_", "-") and sgd[name].flag == "--llc-" + name
        assert sum(llc[name].flag in a.option_strings for a in llc_parser._actions) == 1, name
        assert sum(sgd[name].flag in a.option_strings for a in sgd_parser._actions) == 1, name
    assert "seed" not in sgd and "seed" not in llc  # derived from each command's own --seed


def test_llc_flags_default_to_the_shared_settings():
    from comparisons.cli.llc import _sampler_kwargs, llc_settings

    args = subparser("llc").parse_args(["--phase", "6", "--n", "1000"])
    assert llc_settings(args) == LLCSettings()
    kw = _sampler_kwargs(args)
    assert kw["gamma"] == 1.0 and kw["chains"] is None and kw["draws"] is None and "beta" not in kw
    args = subparser("llc").parse_args(["--phase", "6", "--n", "1000", "--gamma", "10", "--beta", "0.5",
                                        "--chains", "3", "--draws", "7"])
    assert llc_settings(args) == LLCSettings(gamma=10.0, beta=0.5, chains=3, draws=7)


def test_nbeta_is_resolved_once_and_recorded():
    s = LLCSettings()
    assert s.nbeta(1000) == 1000 * llc_beta(1000)
    assert LLCSettings(beta=0.5).nbeta(1000) == 500.0
    attrs = LLCSettings(gamma=3.0, chains=2).to_attrs(1000)
    assert attrs == {"gamma": 3.0, "beta": llc_beta(1000), "nbeta": 1000 * llc_beta(1000), "chains": 2,
                     "draws": 500, "seed": 0, "n": 1000}
    sgld, nuts = _configs()
    a = sgld(step_size=2e-4, chunk=3).to_attrs(1000)
    assert a["nbeta"] == s.nbeta(1000) and a["step_size"] == 2e-4 and a["warmup"] == 0 and "chunk" not in a
    fixed = nuts(fixed_nbeta=250.0)
    assert fixed.nbeta(1000) == 250.0
    b = fixed.to_attrs(1000)
    assert (b["nbeta"], b["beta"], b["warmup"], b["target_accept"]) == (250.0, 0.25, 1000, 0.9)
    assert "fixed_nbeta" not in b


def test_the_sgld_config_hash_of_stored_trajectories_is_unchanged():
    """A finished trajectory.nc is reused when its stored hash matches: the hash must not move."""
    from sgd_tms.config import LLCConfig, config_hash

    assert config_hash(LLCConfig()) == "911965c2c5cc332e"
    assert config_hash(LLCConfig(draws=20, chains=2, thin=5)) == "b014d1381a484720"
    assert config_hash(LLCConfig(draws=20, warmup=5)) == "ab3bd8312f9014c6"  # hashed as its old name burn_in
    assert list(LLCConfig().to_dict())[:5] == list(SHARED)
    # a config stored under the old name reads back as today's
    old = {("burn_in" if k == "warmup" else k): v for k, v in LLCConfig(draws=20, warmup=5).to_dict().items()}
    assert LLCConfig.from_dict(old) == LLCConfig(draws=20, warmup=5)


def test_nuts_keywords_build_the_config():
    _, nuts = _configs()
    assert nuts.from_kwargs(gamma=None, draws=5, nbeta=10.0) == nuts(draws=5, fixed_nbeta=10.0)
    base = nuts(chains=2, beta=0.3)
    assert nuts.from_kwargs(base, warmup=7) == dataclasses.replace(base, warmup=7)
    with pytest.raises(InputError, match="nbeta: expected either beta or nbeta"):
        nuts.from_kwargs(base, nbeta=10.0)
    for kw, match in [({"warmup": -1}, "warmup: expected an integer >= 0"),
                      ({"target_accept": 1.0}, "target_accept: expected a number in \\(0, 1\\)"),
                      ({"backend": "stan"}, "backend: expected one of"), ({"gamma": 0.0}, "gamma: expected")]:
        with pytest.raises(InputError, match=match):
            nuts(**kw)


@pytest.mark.parametrize("cls_index", [0, 1])
@pytest.mark.parametrize("kw, message", [
    ({"gamma": 0.0}, "gamma: expected a finite number > 0, got 0.0"),
    ({"gamma": math.nan}, "gamma: expected a finite number > 0, got nan"),
    ({"beta": -1.0}, "beta: expected a finite number > 0, got -1.0"),
    ({"chains": 0}, "chains: expected an integer >= 1, got 0"),
    ({"draws": 0}, "draws: expected an integer >= 1, got 0"),
    ({"seed": -1}, "seed: expected an integer >= 0, got -1"),
])
def test_one_check_per_shared_setting(cls_index, kw, message):
    for cls in (LLCSettings, _configs()[cls_index]):
        with pytest.raises(InputError) as exc:
            cls(**kw)
        assert str(exc.value) == message, cls.__name__


@pytest.mark.parametrize("method", ["nuts", "sgld"])
@pytest.mark.parametrize("flag, value, message", [
    ("--gamma", "0", "--gamma: expected a finite number > 0, got 0.0"),
    ("--beta", "nan", "--beta: expected a finite number > 0, got nan"),
    ("--chains", "0", "--chains: expected an integer >= 1, got 0"),
    ("--draws", "-3", "--draws: expected an integer >= 1, got -3"),
])
def test_a_bad_shared_value_names_its_flag(method, flag, value, message, capsys):
    rc = main(["llc", "--phase", "6", "--n", "1000", "--method", method, flag, value])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.endswith(message) and "\n" not in err
