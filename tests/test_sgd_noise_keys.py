"""SGLD noise keyed by (run, step, chain): layout knobs (chunks, blocks) change no LLC value."""

import numpy as np
import pytest
import torch

from sgd_tms import LLCConfig, TrainConfig, estimate_llc, train
from comparisons.jobs.sgd import assemble, block_tasks, run_block
from sgd_tms.config import config_hash
from sgd_tms.kernels import KeyedNoise, mix64


def splitmix64_finaliser(x: int) -> int:
    """Pure-Python reference of the splitmix64 finaliser (unsigned 64-bit arithmetic)."""
    m = 2**64 - 1
    x &= m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def test_mix64_is_splitmix64_on_unsigned_bit_patterns():
    xs = [0, 1, 2**63 - 1, -5, 12345678901234, -(2**63)]
    got = mix64(torch.tensor(xs, dtype=torch.int64)).tolist()
    assert [g & (2**64 - 1) for g in got] == [splitmix64_finaliser(x) for x in xs]


def test_keyed_noise_is_standard_normal_and_independent_of_batching():
    from scipy import stats

    noise = KeyedNoise.from_ids(3, torch.arange(50).view(50, 1), torch.arange(40).view(1, 40))
    z = noise.normal(7, 0, (50, 40, 2, 6), torch.float64, "cpu")
    assert stats.kstest(z.ravel().numpy(), "norm").pvalue > 1e-3
    other = noise.normal(8, 0, (50, 40, 2, 6), torch.float64, "cpu")
    assert abs(np.corrcoef(z.ravel(), other.ravel())[0, 1]) < 0.02
    one = KeyedNoise.from_ids(3, torch.arange(10, 11).view(1, 1), torch.arange(5, 6).view(1, 1))
    assert torch.equal(one.normal(7, 0, (1, 1, 2, 6), torch.float64, "cpu"), z[10:11, 5:6])
    assert not torch.equal(KeyedNoise.from_ids(4, torch.arange(50).view(50, 1), torch.arange(40).view(1, 40))
                           .normal(7, 0, (50, 40, 2, 6), torch.float64, "cpu"), z)


@pytest.fixture(scope="module")
def traj():
    return train(TrainConfig(runs=3, n=100, batch_size=10, epochs=12, checkpoint_every=4, seed=1))


#: the noise is identical; what remains is rounding of batched float reductions over other shapes
ROUNDING = {"float32": 1e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_llc_chunk_changes_no_value(traj, dtype):
    cfg = LLCConfig(draws=30, chains=2, seed=5, dtype=dtype)
    whole = estimate_llc(traj, cfg)
    chunked = estimate_llc(traj, LLCConfig(draws=30, chains=2, seed=5, chunk=1, dtype=dtype))
    np.testing.assert_allclose(chunked["llc_chain"].values, whole["llc_chain"].values, rtol=ROUNDING[dtype])
    assert whole.attrs["config_hash"] == chunked.attrs["config_hash"]
    # a subset of checkpoints gets the noise it had inside the whole trajectory
    sub = estimate_llc(traj.isel(step=[1]), cfg)
    np.testing.assert_allclose(sub["llc_chain"].values[:, 0], whole["llc_chain"].values[:, 1],
                               rtol=ROUNDING[dtype])
    other = estimate_llc(traj, LLCConfig(draws=30, chains=2, seed=6, dtype=dtype))
    assert np.abs(other["llc_chain"].values - whole["llc_chain"].values).max() > 1e-3


def test_block_runs_change_no_value():
    tc = TrainConfig(runs=3, n=100, batch_size=10, epochs=8, checkpoint_every=4, seed=2)
    lc = LLCConfig(draws=20, chains=2)
    one = assemble([run_block(t) for t in block_tasks(tc, lc)])
    three = assemble([run_block(t) for t in block_tasks(tc, lc, block_runs=1)])
    for v in ("W", "loss"):
        np.testing.assert_array_equal(one[v].values, three[v].values)
    np.testing.assert_allclose(three["llc_chain"].values, one["llc_chain"].values, rtol=ROUNDING[lc.dtype])
    assert one.attrs["config_hash"] == three.attrs["config_hash"] == config_hash(tc, lc)
