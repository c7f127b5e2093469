"""One Bayesian configuration family (issue 19): the shared posterior spec, one validator, typed study."""

import dataclasses

import pytest

from comparisons.errors import InputError
from comparisons.jobs.configs import BayesConfig, PosteriorSpec, PTConfig, SMCConfig, SwitchStudyConfig

SHARED = ("features", "hidden", "ns", "seed", "beta", "prior_sigma", "classifier", "bootstrap")
CONFIGS = [BayesConfig, PTConfig, SMCConfig]


def test_the_shared_fields_are_declared_once():
    assert tuple(f.name for f in dataclasses.fields(PosteriorSpec)) == SHARED
    for cls in CONFIGS:
        assert issubclass(cls, PosteriorSpec)
        own = set(cls.__dataclass_fields__) - set(SHARED)
        assert not own & set(SHARED)
        # the help text of a shared field is the spec's (one flag, read the same in every command)
        for name in SHARED:
            assert cls.__dataclass_fields__[name].metadata == PosteriorSpec.__dataclass_fields__[name].metadata


@pytest.mark.parametrize("field, value, message", [
    ("beta", 0.0, "beta: expected a finite number > 0, got 0.0"),
    ("prior_sigma", float("nan"), "prior_sigma: expected a finite number > 0, got nan"),
    ("classifier", "paper", "classifier: expected one of gated, hull, got 'paper'"),
    ("bootstrap", 5, "bootstrap: expected an integer >= 10, got 5"),
    ("seed", -1, "seed: expected an integer >= 0, got -1"),
    ("features", 9, "features: expected 2 <= c <= 8"),
])
def test_one_validator_refuses_a_shared_field_alike_in_every_sampler(field, value, message):
    for cls in CONFIGS:
        with pytest.raises(InputError) as info:
            cls(ns=(100, 200), **{field: value})
        assert str(info.value).startswith(message), (cls.__name__, str(info.value))


def test_the_spec_of_each_sampler_is_the_same_posterior():
    kw = dict(features=5, ns=(100, 200), seed=3, beta=0.5, classifier="gated", bootstrap=50)
    specs = {cls(**kw).posterior_spec() for cls in CONFIGS}
    assert specs == {PosteriorSpec(**kw)}


def test_the_switch_study_is_typed_and_checked():
    study = SwitchStudyConfig(datasets=2, conventions="gaussian-sigma1,tempered,gaussian-sigma1")
    assert study.conventions == ("gaussian-sigma1", "tempered") and study.runs() == 2 * 3
    for kw, message in [({"datasets": 0}, "datasets: expected an integer >= 1"),
                        ({"conventions": ("bogus",)}, "conventions: expected some of"),
                        ({"refine_tol": 1.0}, "refine_tol: expected a number in [0, 1)"),
                        ({"refine_rounds": -1}, "refine_rounds: expected an integer >= 0")]:
        with pytest.raises(InputError, match=message.replace("[", r"\[").replace(")", r"\)")):
            SwitchStudyConfig(**kw)
