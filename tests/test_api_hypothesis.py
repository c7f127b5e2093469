"""Property-based tests of the public API's input checks (issue 21, item 7).

Hypothesis throws random shapes, dtypes, NaN/inf, empty and huge values at every function of the
README's "Library in a few lines" and at every config constructor. The only allowed outcomes are
a result or :class:`comparisons.errors.InputError`: never an IndexError, KeyError, TypeError,
OverflowError or any other exception. Nothing here samples: the configs are only built, the
theory functions are cheap, and the engines' entry points get inputs they must refuse before any
work (a guard makes work fail the test).

Profiles: ``default`` (in the default suite, about half a minute) and ``slow``
(``HYPOTHESIS_PROFILE=slow pytest tests/test_api_hypothesis.py``: ten times the examples).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from comparisons.errors import InputError  # noqa: E402

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("slow", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# -- strategies -------------------------------------------------------------------------------------
HUGE = 10 ** 400  # beyond the float range: float(HUGE) overflows
numbers = st.one_of(
    st.integers(min_value=-HUGE, max_value=HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 4, 6, 8, 9, 10, 100, 10 ** 6, 10 ** 6 + 1, -1, 0.5, 1e-300, 1e300, math.nan, math.inf]),
)
scalars = st.one_of(numbers, st.none(), st.booleans(), st.text(max_size=4), st.complex_numbers(),
                    st.just(np.int64(6)), st.just(np.float32(0.5)), st.just(np.bool_(True)))
#: arrays of every common dtype, up to 4 dimensions of up to 5 entries, NaN/inf and huge values included
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_, np.complex128, np.uint8]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    elements=None,
)
containers = st.one_of(st.lists(numbers, max_size=4), st.tuples(numbers, numbers),
                       st.lists(st.lists(numbers, max_size=3), max_size=3), st.dictionaries(st.text(max_size=3), numbers,
                                                                                            max_size=2))
anything = st.one_of(scalars, arrays, containers)


def allowed(call, *args, **kwargs):
    """Run ``call``; a result or an InputError (one line) are the allowed outcomes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow to inf in a result is a result, not a refusal
        try:
            return call(*args, **kwargs)
        except InputError as exc:
            assert "\n" not in str(exc), str(exc)
            return exc


def fields_of(cls, required: dict | None = None):
    """Keyword dictionaries for ``cls``: each field left out or given an arbitrary value."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return st.fixed_dictionaries({}, optional={name: anything for name in names}).map(
        lambda d: {**(required or {}), **d})


@pytest.fixture(scope="module")
def phases():
    from comparisons.theory import enumerate_phases

    return enumerate_phases(6)


# -- config constructors -----------------------------------------------------------------------------
def _configs():
    from bayes_tms import BayesConfig, PTConfig
    from bayes_tms.config import SMCConfig
    from bayes_tms.llc import NUTSLLCConfig
    from comparisons.theory import LLCSettings
    from sgd_tms.config import LLCConfig, TrainConfig

    return [(BayesConfig, None), (PTConfig, {"ns": (100, 200)}), (SMCConfig, {"ns": (100,)}), (TrainConfig, None),
            (LLCConfig, None), (LLCSettings, None), (NUTSLLCConfig, None)]


@pytest.mark.parametrize("cls, required", _configs(), ids=lambda v: getattr(v, "__name__", ""))
def test_config_constructors_give_a_config_or_input_error(cls, required):
    @given(fields_of(cls, required))
    def check(kwargs):
        out = allowed(cls, **kwargs)
        if not isinstance(out, InputError):  # a config that was accepted can be used: its dict is JSON-able
            assert isinstance(out, cls)
            if hasattr(out, "to_dict"):
                out.to_dict()

    check()


@given(name=anything, features=anything, overrides=st.dictionaries(
    st.sampled_from(["chains", "draws", "warmup", "ns", "beta", "bogus_key", "seed", "backend"]), anything, max_size=3))
def test_preset_config_gives_a_config_or_input_error(name, features, overrides):
    from bayes_tms import preset_config

    allowed(preset_config, name, features, **overrides)
    allowed(preset_config, "quick", 6, **overrides)


@given(name=anything, overrides=st.dictionaries(
    st.sampled_from(["runs", "lr", "epochs", "n", "betas", "unknown", "init", "device"]), anything, max_size=3))
def test_sgd_preset_gives_a_config_or_input_error(name, overrides):
    from sgd_tms import preset

    allowed(preset, name, **overrides)
    allowed(preset, "smoke", **overrides)


# -- the theory functions of the README ----------------------------------------------------------------
@given(c=anything, r=anything)
def test_enumerate_phases(c, r):
    from comparisons.theory import enumerate_phases

    if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 2 <= c <= 8 and c > 6:
        return  # valid and slow (seconds per c): covered by the theory tests
    allowed(enumerate_phases, c, r)


@given(W=anything, b=anything)
def test_population_loss(W, b):
    from comparisons.theory import population_loss

    allowed(population_loss, W, b)


@given(W=st.one_of(anything, hnp.arrays(np.float64, st.sampled_from([(2, 6), (3, 2, 6), (2, 5)]))),
       b=st.one_of(anything, hnp.arrays(np.float64, st.sampled_from([(6,), (3, 6), (5,)]))))
def test_population_loss_and_classify_on_near_valid_shapes(W, b, phases):
    from comparisons.theory import classify, population_loss

    allowed(population_loss, W, b)
    allowed(classify, W, b)
    allowed(classify, W, b, phases)


@given(W=anything, b=anything, rule=st.one_of(st.sampled_from(["gated", "hull"]), anything))
def test_classify(W, b, rule):
    from comparisons.theory import classify

    allowed(classify, W, b)
    allowed(classify, W, b, rule=rule)


@given(n_min=anything, n_max=anything, llc=st.one_of(st.none(), anything,
                                                     st.dictionaries(st.sampled_from(["6", "5", "4"]), anything)),
       prior_sigma=anything, beta=anything)
def test_dominant_intervals(n_min, n_max, llc, prior_sigma, beta, phases):
    from comparisons.theory import crossings, dominant_intervals

    allowed(dominant_intervals, phases, n_min, n_max)
    allowed(dominant_intervals, phases, 10, 1e6, llc, prior_sigma, beta)
    allowed(crossings, phases, n_max, n_min, llc, prior_sigma, beta)


@given(ph=st.one_of(anything, st.just([]), st.just(["6"]), st.just(())))
def test_dominant_intervals_phases(ph):
    from comparisons.theory import dominant_intervals, free_energy

    allowed(dominant_intervals, ph, 10, 1e6)
    allowed(free_energy, ph, 100.0)


@given(n=anything)
def test_free_energy_sample_sizes(n, phases):
    from comparisons.theory import dominant_phase, free_energy

    allowed(free_energy, phases, n)
    allowed(dominant_phase, phases, n)


# -- the engines' entry points: the wrong kind of input, refused before any work ---------------------------
@given(config=anything)
def test_sample_tms_pt_refuses_what_is_not_a_config(config):
    from bayes_tms import sample_tms_pt

    assert isinstance(allowed(sample_tms_pt, None, config), InputError)


@given(config=anything)
def test_train_refuses_what_is_not_a_config(config):
    from sgd_tms import train

    assert isinstance(allowed(train, config), InputError)


@given(ds=anything)
def test_estimate_llc_and_phase_sequences_refuse_what_is_not_a_trajectory(ds):
    from sgd_tms import estimate_llc, phase_sequences

    assert isinstance(allowed(estimate_llc, ds), InputError)
    assert isinstance(allowed(phase_sequences, ds), InputError)


@st.composite
def datasets(draw):
    """Small Datasets with some of the trajectory's variables, of random shapes and dtypes."""
    import xarray as xr

    names = draw(st.lists(st.sampled_from(["W", "b", "loss", "population_loss", "phase", "x", "llc", "diverged"]),
                          max_size=5, unique=True))
    dims = ("run", "step", "hidden", "feature")
    data = {}
    for name in names:
        arr = draw(hnp.arrays(dtype=st.sampled_from([np.float64, np.int64, np.bool_]),
                              shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3)))
        data[name] = (dims[:arr.ndim], arr)
    try:
        return xr.Dataset(data)
    except ValueError:  # conflicting sizes of one dim
        return xr.Dataset()


@given(ds=datasets())
def test_phase_sequences_on_random_datasets(ds):
    from sgd_tms import phase_sequences

    allowed(phase_sequences, ds)
