"""SMC evidence (bayes_tms.smc) against a closed form; measured-vs-asymptotic comparison; CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from comparisons.cli import main
from comparisons.errors import InputError
from comparisons.free_energy_measured import (evidence_table, local_free_energies,
                                              measured_crossings)
from comparisons.theory import crossings, enumerate_phases
from occupancy_toys import occupancy_of


def test_smc_log_evidence_matches_gaussian_closed_form():
    """Prior N(0, 1)^d, likelihood exp(-a |w|^2 / 2) as a Potential: log Z = -(d/2) log(1 + a)."""
    import pymc as pm

    from bayes_tms.smc import smc_model_evidence

    d, a = 3, 50.0
    with pm.Model() as model:
        w = pm.Normal("w", 0.0, 1.0, shape=d)
        pm.Potential("loglik", -0.5 * a * (w**2).sum())
    logz, idata, _ = smc_model_evidence(model, particles=1000, runs=4, seed=1, mutation_steps=10)
    exact = -d / 2 * np.log1p(a)
    se = logz.std(ddof=1) / np.sqrt(logz.size)
    assert abs(logz.mean() - exact) < 4 * se + 0.05, (logz, exact)
    assert idata.posterior["w"].shape == (4, 1000, d)


def test_smc_tms_tiny_and_bad_input():
    import dataclasses

    from bayes_tms.config import SMCConfig
    from bayes_tms.smc import smc_log_evidence
    from comparisons.theory import sample_inputs

    cfg = SMCConfig(features=4, ns=(30,), particles=50, runs=2, mutation_steps=3, seed=0)
    r = smc_log_evidence(sample_inputs(30, 4, 0), cfg)
    assert r.log_evidence.shape == (2,) and np.all(np.isfinite(r.log_evidence))
    assert r.labels.shape == (2, 50)
    fr = r.fractions()
    assert list(fr["estimator"].values) == ["smc"] and list(fr["n"].values) == [30]
    f, lo, hi = (fr[k].values.ravel() for k in ("fraction", "lower", "upper"))
    assert abs(f.sum() - 1) < 1e-9 and (lo <= f).all() and (f <= hi).all()
    assert int(fr["runs"].values.ravel()[0]) == 2 and int(fr["particles"].sum()) == 100
    assert r.settings["classifier"] == "hull"  # the default: the paper's rule labels every particle
    assert "unclassified" not in set(r.labels.ravel())
    gated = smc_log_evidence(sample_inputs(30, 4, 0), dataclasses.replace(cfg, classifier="gated"))
    np.testing.assert_array_equal(gated.W, r.W)  # the rule labels the same particles
    assert gated.settings["classifier"] == "gated"
    with pytest.raises(InputError, match="particles: expected an integer >= 10"):
        dataclasses.replace(cfg, particles=5)
    with pytest.raises(InputError, match="kernel: expected one of"):
        dataclasses.replace(cfg, kernel="HMC")
    with pytest.raises(InputError, match="classifier: expected one of gated, hull"):
        dataclasses.replace(cfg, classifier="paper")
    with pytest.raises(InputError, match="config: expected an SMCConfig"):
        smc_log_evidence(sample_inputs(30, 4, 0), {"particles": 50})


def test_evidence_table_aligns_at_smallest_n():
    phases = enumerate_phases(6)
    ns = np.array([100, 200, 400])
    from comparisons.free_energy_measured import asymptotic_curves

    cur = asymptotic_curves(phases, ns)
    logz = -(cur["lse_F"] + 7.0)
    rows, const = evidence_table(ns, logz, np.full(3, 0.1), phases)
    assert const == pytest.approx(7.0)
    assert [r["asymptotic_lse_F"] for r in rows] == pytest.approx(list(-logz))


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_measured_crossings_recover_the_theory_on_asymptotic_curves(beta):
    """Feeding the asymptotic curves at ``beta`` as 'measured' masses must give back the theory's 5 -> 6
    at that beta (beta = 1/2: the paper's Gaussian sigma = 1 convention, twice the n)."""
    phases = [p for p in enumerate_phases(6) if p.label in ("5", "6")]
    ns = np.geomspace(100, 6000, 50).astype(int)
    from comparisons.free_energy_measured import asymptotic_curves

    cur = asymptotic_curves(phases, ns, beta=beta)
    logz = -cur["lse_F"]
    lm = [{"n": int(n), "phase": lab, "log_mass": float(-cur["F"][i, k] - logz[k]),
           "lower": float(-cur["F"][i, k] - logz[k]), "upper": float(-cur["F"][i, k] - logz[k])}
          for i, lab in enumerate(cur["labels"]) for k, n in enumerate(ns)]
    lm = occupancy_of({"nuts_bridge": [{**r, "fraction": math.exp(r["log_mass"])} for r in lm]},
                      log_mass={"nuts_bridge": lm})
    rows = local_free_energies({int(n): (float(logz[k]), 0.0) for k, n in enumerate(ns)}, lm, phases, beta=beta)
    assert all(abs(r["measured_F"] - r["asymptotic_F"]) < 1e-9 for r in rows)
    cr = measured_crossings(rows, phases, beta=beta)
    want = crossings(phases, n_max=1e4, beta=beta)[0]["n"]
    assert want == pytest.approx(crossings(phases, n_max=1e4)[0]["n"] / beta)
    assert len(cr) == 1 and cr[0]["from"] == "5" and cr[0]["to"] == "6" and cr[0]["dominant"]
    assert cr[0]["n"] == pytest.approx(want, rel=0.01)
    assert cr[0]["predicted_n"] == pytest.approx(want)


def test_cli_free_energy_tiny_run_writes_every_file(tmp_path, capsys):
    from comparisons.analysis import OCCUPANCY_COMPARE_COLUMNS
    from comparisons.io import write_netcdf

    bayes = tmp_path / "bayes"  # a NUTS run's occupancy hand-off (ladder bridge), as `tms-phases bayes` writes it
    bayes.mkdir()
    occ = [{"n": n, "phase": "4", "fraction": 0.9, "lower": 0.8, "upper": 1.0, "chains": 4} for n in (20, 40)]
    lm = [{"n": n, "phase": "4", "log_mass": -0.1, "lower": -0.2, "upper": 0.0} for n in (20, 40)]
    write_netcdf(occupancy_of({"nuts_bridge": occ}, log_mass={"nuts_bridge": lm}), bayes / "occupancy.nc")
    out = tmp_path / "fe"
    rc = main(["free-energy", "--features", "4", "--n", "20,40", "--particles", "60", "--runs", "2",
               "--mutation-steps", "3", "--seed", "0", "--out", str(out), "--no-progress", "--bayes-dir", str(bayes)])
    assert rc == 0
    for f in ("free_energy.csv", "free_energy_phases.csv", "smc_occupancy.csv",
              "crossings_measured.json", "free_energy.png", "timing.json", "occupancy_compare.csv"):
        assert (out / f).is_file(), f
    assert isinstance(json.loads((out / "crossings_measured.json").read_text()), list)
    header = (out / "free_energy.csv").read_text().splitlines()[0]
    assert header.startswith("n,log_evidence,se,")
    # the long format of reproduce's occupancy_compare.csv: SMC beside the ladder bridge
    lines = (out / "occupancy_compare.csv").read_text().splitlines()
    assert lines[0] == ",".join(OCCUPANCY_COMPARE_COLUMNS)
    assert {ln.split(",")[2] for ln in lines[1:]} == {"smc", "nuts_bridge"}
    assert "20,4,nuts_bridge,0.9,0.8,1" in lines


@pytest.mark.parametrize("argv, match", [
    (["free-energy", "--n", "1,2", "--out", "X"], "--n: expected"),
    (["free-energy", "--n", "10", "--particles", "3", "--out", "X"], "--particles: expected"),
    (["free-energy", "--n", "10", "--bayes-dir", "/nonexistent", "--out", "X"], "--bayes-dir: expected"),
])
def test_cli_free_energy_bad_input_exit_2(argv, match, capsys, tmp_path):
    argv = [a if a != "X" else str(tmp_path / "o") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err
