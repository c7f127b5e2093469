"""Interrupted or failed NUTS rungs are never stored as finished (issue 12, item 1).

The back-end is replaced by a fake that returns well-formed draws near a k-gon phase, NaN
chains, too few draws, or raises KeyboardInterrupt, so nothing here depends on timing.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from comparisons.contracts import package_versions

from comparisons.errors import InputError
from comparisons.sweep import ResultStore, SweepInterrupted
from comparisons.theory import enumerate_phases

import bayes_tms.sampling as sampling
import comparisons.jobs.bayes as bayes_job
from bayes_tms import BayesConfig

CFG = BayesConfig(features=4, ns=(40, 80, 120), chains=4, draws=12, warmup=5, cores=1, bootstrap=20)


class FakeBackend:
    """Stand-in for ``_sample_pymc``: ``plan[n]`` lists what each successive call at ``n`` does."""

    def __init__(self, plan: dict[int, list[str]] | None = None) -> None:
        self.plan = {n: list(v) for n, v in (plan or {}).items()}
        self.calls: list[int] = []

    def __call__(self, x, kind, key, data, config, chain_ss, progress, cache):
        import arviz as az

        n = x.shape[0]
        self.calls.append(n)
        todo = self.plan.get(n, [])
        what = todo.pop(0) if todo else "ok"
        if what == "interrupt":
            raise KeyboardInterrupt
        chains, draws = config.chains, config.draws
        if what == "short":
            draws = 0
        phase = enumerate_phases(config.features, config.hidden)[0]
        rng = np.random.default_rng(n)
        W = phase.W[None, None] + 0.01 * rng.normal(size=(chains, draws) + phase.W.shape)
        b = phase.b[None, None] + 0.01 * rng.normal(size=(chains, draws) + phase.b.shape)
        if what == "nan":  # what nutpie returns for chains it had not finished on Ctrl-C
            W[2:] = np.nan
            b[2:] = np.nan
        return az.from_dict(
            posterior={"W": W, "b": b},
            sample_stats={"diverging": np.zeros((chains, draws), bool),
                          "tree_depth": np.full((chains, draws), 3)},
            dims={"W": ["hidden", "feature"], "b": ["feature"]})


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(sampling, "_sample_pymc", backend)
    return backend


def _store(out):
    return ResultStore(out / "tasks", result_format=bayes_job.RUNG_FORMAT, versions=package_versions(*bayes_job.RUNG_VERSIONS))


def test_nan_chains_are_never_stored_and_a_retry_recomputes_them(fake, tmp_path):
    fake.plan = {80: ["nan", "nan", "nan"]}
    with pytest.raises(InputError, match="n=80"):
        bayes_job.run_sweep(CFG, tmp_path, progress=False, retries=2)
    store = _store(tmp_path)
    tasks = bayes_job.rung_tasks(CFG)
    assert [store.is_intact(t) for t in tasks] == [True, False, True]
    assert not (tmp_path / "posterior_n00080.nc").exists()
    fake.calls.clear()
    res = bayes_job.run_sweep(CFG, tmp_path, progress=False)
    assert fake.calls == [80]  # only the failed rung is sampled again
    assert np.isfinite(res[80].posterior["W"].values).all()


@pytest.mark.parametrize("failure", ["nan", "short"])
def test_one_bad_attempt_is_retried_not_kept(fake, tmp_path, failure):
    fake.plan = {40: [failure]}
    res = bayes_job.run_sweep(CFG, tmp_path, progress=False, retries=1)
    assert fake.calls == [40, 40, 80, 120]
    assert res[40].posterior.sizes["draw"] == CFG.draws


def test_ctrl_c_mid_sweep_stops_at_once_and_the_same_call_resumes(fake, tmp_path):
    fake.plan = {80: ["interrupt"]}
    with pytest.raises(SweepInterrupted):
        bayes_job.run_sweep(CFG, tmp_path, progress=False, retries=2)
    assert fake.calls == [40, 80]  # no retry of the interrupted rung, no later rung
    store = _store(tmp_path)
    assert [store.is_intact(t) for t in bayes_job.rung_tasks(CFG)] == [True, False, False]
    assert not (tmp_path / "tasks" / "sweep-store.lock").exists()
    fake.calls.clear()
    res = bayes_job.run_sweep(CFG, tmp_path, progress=False)
    assert fake.calls == [80, 120]
    assert sorted(res) == [40, 80, 120]


@pytest.mark.parametrize("failure", ["nan", "short"])
def test_a_poisoned_stored_rung_is_recomputed_with_a_message_naming_n(fake, tmp_path, capsys, failure):
    """A store written by an older version (NaN chains stored as finished) heals on re-run."""
    store = _store(tmp_path)
    task = bayes_job.rung_tasks(CFG)[1]
    fake.plan = {80: [failure]}
    bad = fake(np.zeros((80, 4)), None, None, None, CFG, None, False, None)
    store.write(task, bad.to_datatree())  # bypasses validation, like the old code did
    assert store.is_intact(task)
    fake.calls.clear()
    res = bayes_job.run_sweep(CFG, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert "n=80" in err and "recomputing" in err
    assert sorted(fake.calls) == [40, 80, 120]
    assert np.isfinite(res[80].posterior["W"].values).all()
    assert res[80].posterior.sizes["draw"] == CFG.draws


def test_check_complete_names_the_rung_and_the_bad_chains():
    idata = FakeBackend({7: ["nan"]})(np.zeros((7, 4)), None, None, None, CFG, None, False, None)
    with pytest.raises(sampling.SamplingIncomplete, match=r"n=7: .*2 of 4 chains \[2, 3\]"):
        sampling.check_complete(idata, chains=4, draws=CFG.draws, n=7)
    with pytest.raises(sampling.SamplingIncomplete, match="expected 4 chains x 13 draws, got 4 x 12"):
        sampling.check_complete(idata, chains=4, draws=13, n=7)


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler for the test: a runner started in the background (``cmd &``)
    inherits SIGINT ignored, and the guard rightly leaves an ignored Ctrl-C alone."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_interrupt_guard_reraises_a_ctrl_c_that_the_backend_swallowed(default_sigint):
    swallowed = []
    with pytest.raises(KeyboardInterrupt):
        with sampling._interrupt_guard():
            try:  # what nutpie.sample does: catch Ctrl-C and return the partial trace
                signal.raise_signal(signal.SIGINT)
                for _ in range(1000):
                    pass
            except KeyboardInterrupt:
                swallowed.append(True)
    assert swallowed == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_guard_is_silent_without_ctrl_c(default_sigint):
    with sampling._interrupt_guard():
        value = 1
    assert value == 1 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


CLI = ["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80,120", "--chains", "4", "--draws", "12", "--warmup", "5",
       "--backend", "pymc", "--cores", "1", "--bootstrap", "20", "--no-progress"]


def test_cli_ctrl_c_then_the_same_command_resumes(fake, tmp_path, capsys):
    from comparisons.cli import main

    out = tmp_path / "X"
    fake.plan = {80: ["interrupt"]}
    assert main(CLI + ["--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "re-run the same command to resume" in err and "Traceback" not in err
    assert not (out / "occupancy.csv").exists()
    fake.calls.clear()
    assert main(CLI + ["--out", str(out)]) == 0
    assert fake.calls == [80, 120]
    assert sorted(p.name for p in out.glob("posterior_n*.nc")) == [
        "posterior_n00040.nc", "posterior_n00080.nc", "posterior_n00120.nc"]


# -- output folders (issue 12, item 5) -----------------------------------------------------------
def test_shorter_ladder_takes_stale_posteriors_out_of_the_folder_but_keeps_their_draws(fake, tmp_path, capsys):
    import dataclasses

    bayes_job.run_sweep(CFG, tmp_path, progress=False)
    assert len(list(tmp_path.glob("posterior_n*.nc"))) == 3
    foreign = tmp_path / "posterior_n00999.nc"  # not a link to the store: moved, not deleted
    foreign.write_bytes(b"draws from somewhere else")
    short = dataclasses.replace(CFG, ns=(40, 80))
    fake.calls.clear()
    bayes_job.run_sweep(short, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert fake.calls == []
    assert sorted(p.name for p in tmp_path.glob("posterior_n*.nc")) == ["posterior_n00040.nc",
                                                                       "posterior_n00080.nc"]
    assert "posterior_n00120.nc" in err and "posterior_n00999.nc" in err
    assert (tmp_path / "unused" / "posterior_n00999.nc").read_bytes() == b"draws from somewhere else"
    store = _store(tmp_path)
    assert store.is_intact(bayes_job.rung_tasks(CFG)[2])  # n=120 still in the store
    bayes_job.run_sweep(CFG, tmp_path, progress=False)  # the long ladder again: nothing resampled
    assert fake.calls == [] and (tmp_path / "posterior_n00120.nc").exists()


def test_cached_rerun_reports_the_compute_time_marked_cached(fake, tmp_path, capsys):
    import json

    from comparisons.cli import main

    out = tmp_path / "X"
    assert main(CLI + ["--out", str(out)]) == 0
    first = json.loads((out / "timing.json").read_text())
    assert first["cached"] is False and first["rungs_cached"] == 0 and first["compute_s"] > 0
    seals = [json.loads(p.read_text()) for p in (out / "tasks" / "results").glob("*.json")]
    assert first["compute_s"] == pytest.approx(sum(s["elapsed_s"] for s in seals))
    capsys.readouterr()
    assert main(CLI + ["--out", str(out)]) == 0
    again = json.loads((out / "timing.json").read_text())
    assert again["cached"] is True and again["rungs_cached"] == 3
    assert again["compute_s"] == pytest.approx(first["compute_s"])  # the computation, not the cache hit
    assert "3 of 3 rungs cached" in capsys.readouterr().out
