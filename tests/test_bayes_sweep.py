"""Sampling, sweep files, round trip, reproducibility, occupancy and bad inputs (tiny sizes)."""

import csv
import json
import sys

import numpy as np
import pytest

from comparisons.cli import main
from comparisons.contracts import read_diagnostics, read_occupancy, read_transitions, validate_posterior
from comparisons.errors import InputError
from comparisons.theory import sample_inputs

from bayes_tms import BayesConfig, occupancy_table, read_posterior, sample_posterior, transitions
from comparisons.jobs.bayes import run_sweep

TINY = dict(features=4, ns=(40, 80), chains=2, draws=15, warmup=15, cores=1, bootstrap=50)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    cfg = BayesConfig(**TINY)
    return cfg, out, run_sweep(cfg, out, progress=False)


def test_sweep_contract_and_round_trip(tiny_sweep):
    cfg, out, res = tiny_sweep
    for n in cfg.ns:
        idata = res[n]
        post = idata.posterior
        assert post["W"].dims == ("chain", "draw", "hidden", "feature")
        assert post["b"].dims == ("chain", "draw", "feature")
        assert post["W"].shape == (2, 15, 2, 4)
        for v in ("empirical_loss", "population_loss", "phase", "phase_distance"):
            assert post[v].dims == ("chain", "draw")
        for k in ("n", "beta", "prior_sigma", "seed", "package_version", "config_hash"):
            assert k in post.attrs
        assert post.attrs["n"] == n
        back = read_posterior(out / f"posterior_n{n:05d}.nc", cfg, n)
        for v in ("W", "b", "empirical_loss", "population_loss", "phase_distance"):
            np.testing.assert_array_equal(back.posterior[v].values, post[v].values)
        np.testing.assert_array_equal(back.posterior["phase"].values.astype(str),
                                      post["phase"].values.astype(str))
        assert dict(back.posterior.attrs)["config_hash"] == cfg.hash
        assert "diverging" in back.sample_stats
        assert validate_posterior(out / f"posterior_n{n:05d}.nc").posterior["phase"].dtype.kind == "U"


def test_resume_skips_intact_files_and_resamples_broken_ones(tiny_sweep):
    cfg, out, res = tiny_sweep
    p = out / "posterior_n00080.nc"
    before = p.stat().st_mtime_ns
    p40 = out / "posterior_n00040.nc"
    p40.write_bytes(b"not a netcdf file")
    res2 = run_sweep(cfg, out, progress=False)
    assert p.stat().st_mtime_ns == before
    np.testing.assert_array_equal(res2[40].posterior["W"].values, res[40].posterior["W"].values)


def test_same_seed_same_draws_and_nested_data():
    cfg = BayesConfig(**{**TINY, "ns": (30,)})
    x = sample_inputs(30, 4, 0)
    a = sample_posterior(x, cfg, progress=False)
    b = sample_posterior(x, cfg, progress=False)
    np.testing.assert_array_equal(a.posterior["W"].values, b.posterior["W"].values)
    c = sample_posterior(x, cfg.replace(seed=1), progress=False)
    assert not np.array_equal(a.posterior["W"].values, c.posterior["W"].values)


def test_occupancy_and_transitions_on_synthetic_labels():
    import xarray as xr

    class Fake:
        def __init__(self, labels):
            self.posterior = xr.Dataset({"phase": (("chain", "draw"), np.array(labels))})

    ns = [100, 200, 400, 800]
    probs = [0.1, 0.3, 0.7, 0.9]  # chains in phase "6" with rising probability
    rng = np.random.default_rng(0)
    posts = {}
    for n, p in zip(ns, probs):
        chains = [["6"] * 20 if rng.random() < p else ["5"] * 20 for _ in range(40)]
        posts[n] = Fake(chains)
    occ, reps = occupancy_table(posts, B=200, seed=1)
    assert occ.attrs["level"] == "phase" and occ.attrs["seed_rule"].startswith("child_rng(seed, 'bayes'")
    f, lo, hi = (occ[k].values for k in ("fraction", "lower", "upper"))
    seen = np.isfinite(f)
    assert (lo[seen] <= f[seen]).all() and (f[seen] <= hi[seen]).all()
    tr = transitions(reps, features=6)
    assert tr.sizes["transition"] == 1 and tr["from"].values.tolist() == ["5"] and tr["to"].values.tolist() == ["6"]
    t = tr.isel(transition=0)
    assert 100 <= t["n"] <= 800 and t["lower"] <= t["n"] <= t["upper"]
    assert abs(float(t["predicted_n"]) - 601) < 5


def test_cli_end_to_end_writes_all_files(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["bayes", "--sampler", "nuts", "--features", "4", "--n", "40,80", "--chains", "2", "--draws", "12",
               "--warmup", "12", "--seed", "3", "--cores", "1", "--bootstrap", "20", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    for f in ("posterior_n00040.nc", "posterior_n00080.nc", "occupancy.csv", "transitions.json",
              "diagnostics.csv", "occupancy.png", "config.json"):
        assert (out / f).is_file(), f
    header = (out / "occupancy.csv").read_text().splitlines()[0]
    assert header == "n,phase,fraction,lower,upper,chains"
    trans = json.loads((out / "transitions.json").read_text())
    assert isinstance(trans, list)
    for t in trans:
        assert {"from", "to", "n", "lower", "upper", "predicted_n"} <= set(t)
    assert "divergences" in (out / "diagnostics.csv").read_text().splitlines()[0]
    # the hand-offs the report reads, and their CSV/JSON exports, hold the same tables
    occ = read_occupancy(out / "occupancy.nc")
    assert list(occ["estimator"].values) == ["nuts_bridge", "nuts_raw"] and occ.attrs["level"] == "phase"
    exported = list(csv.DictReader(open(out / "occupancy.csv")))
    bridge = occ.sel(estimator="nuts_bridge")
    assert int(np.isfinite(bridge["fraction"]).sum()) == len(exported)  # one line per reported cell
    assert all(f"{float(bridge['fraction'].sel(n=int(e['n']), phase=e['phase'])):.6g}" == e["fraction"]
               for e in exported)
    handoff = read_transitions(out / "transitions.nc")
    assert handoff.attrs["sampler"] == "nuts"
    assert handoff.attrs["classifier"] == json.loads((out / "config.json").read_text())["classifier"]
    assert len(trans) == handoff.sizes["transition"]
    for k in handoff.data_vars:  # the JSON export: the same fields and values, NaN as null
        got = [np.nan if t[k] is None else t[k] for t in trans]
        assert got == handoff[k].values.tolist() or np.allclose(got, handoff[k].values, equal_nan=True), k
    assert read_occupancy(out / "occupancy_family.nc").attrs["level"] == "family"
    diag = read_diagnostics(out / "diagnostics.nc")
    exported = list(csv.DictReader(open(out / "diagnostics.csv")))
    assert diag.sizes["row"] == len(exported) and diag["phase"].dtype.kind == "U"
    assert [e["phase"] for e in exported] == diag["phase"].values.tolist()
    assert [int(e["divergences"]) for e in exported] == diag["divergences"].values.tolist()


@pytest.mark.parametrize("argv, word", [
    (["--n", "0,100"], "--n"),
    (["--n", "100", "--chains", "0"], "chains"),
    (["--n", "100", "--backend", "stan"], "backend"),
    (["--n", "abc"], "--n"),
    (["--n", "100", "--preset", "huge"], "preset"),
])
def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, capsys, argv, word):
    rc = main(["bayes", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and word in err


def test_api_bad_inputs():
    cfg = BayesConfig(**TINY)
    with pytest.raises(InputError, match="chains"):
        BayesConfig(**{**TINY, "chains": 0})
    with pytest.raises(InputError, match="n"):
        BayesConfig(**{**TINY, "ns": (0, 10)})
    with pytest.raises(InputError, match="backend"):
        BayesConfig(**{**TINY, "backend": "stan"})
    x = sample_inputs(20, 4, 0)
    x[3, 1] = np.nan
    with pytest.raises(InputError, match="finite"):
        sample_posterior(x, cfg, progress=False)
    with pytest.raises(InputError, match="features"):
        sample_posterior(sample_inputs(20, 5, 0), cfg, progress=False)


def test_import_is_cheap_and_layered():
    import subprocess

    code = ("import sys, bayes_tms; bad = [m for m in ('torch', 'sgd_tms', 'pymc', 'pytensor') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nutpie_backend_runs_and_is_seeded():
    pytest.importorskip("nutpie")
    cfg = BayesConfig(**{**TINY, "ns": (50,), "backend": "nutpie", "chains": 2})
    x = sample_inputs(50, 4, 0)
    a = sample_posterior(x, cfg, progress=False)
    b = sample_posterior(x, cfg, progress=False)
    assert a.posterior["W"].shape == (2, 15, 2, 4)
    np.testing.assert_array_equal(a.posterior["W"].values, b.posterior["W"].values)
    assert "tree_depth" in a.sample_stats


def test_hull_is_the_default_classifier_and_gated_keeps_its_rung_keys():
    from comparisons.jobs.bayes import rung_tasks

    gated, hull = BayesConfig(**TINY, classifier="gated"), BayesConfig(**TINY)
    assert hull.classifier == "hull"  # the paper's rule is the default of reported occupancy
    assert "classifier" not in gated.posterior_dict()  # stored gated rungs keep their keys
    assert [t.config for t in rung_tasks(gated)] != [t.config for t in rung_tasks(hull)]
    with pytest.raises(InputError, match="classifier: expected one of gated, hull"):
        BayesConfig(**TINY, classifier="paper")


def test_nuts_sweep_with_the_default_hull_classifier_labels_every_draw(tiny_sweep):
    cfg, out, res = tiny_sweep
    assert cfg.classifier == "hull"
    for n in cfg.ns:
        post = res[n].posterior
        assert post.attrs["classifier"] == "hull"
        assert "unclassified" not in set(post["phase"].values.astype(str).ravel())


def test_nuts_occupancy_figure_marks_the_papers_switch(tmp_path, monkeypatch):
    """c = 6: the NUTS job's occupancy figure carries the paper's switch, as the PT job's does."""
    from comparisons.jobs import bayes as job
    from comparisons.jobs.paper_switch import PAPER_SWITCH, paper_switch_n

    figs = {}
    monkeypatch.setattr(job, "save_figure", lambda fig, path: figs.setdefault(path.name, fig))
    job.run_bayes(BayesConfig(**{**TINY, "features": 6, "draws": 10, "warmup": 10, "bootstrap": 20}), tmp_path,
                  progress=False)
    ax = figs["occupancy.png"].axes[0]
    marks = [ln for ln in ax.lines if ln.get_color() == "C4"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [paper_switch_n(6)] * 2
    # named above the axes, clear of the data
    (name,) = [t for t in ax.texts if t.get_text() == "paper {}→{}".format(*PAPER_SWITCH)]
    assert name.get_position()[1] > 1
