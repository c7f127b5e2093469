"""``tms-phases llc``: JSON keys, sweep outputs (mocked sampler), one-line errors with exit 2."""

import csv
import json
import math
import subprocess
import sys

from types import SimpleNamespace

import pytest

from comparisons.analysis import llc_accuracy
from comparisons.jobs import llc_accuracy as llc_job
from comparisons.cli import main

KEYS = {"phase", "n", "method", "llc", "se", "theory", "theory_kind", "gamma", "nbeta", "seed", "wall_s",
        "diagnostics", "regime"}
NUTS_DIAGNOSTICS = {"backend", "chains", "draws", "ess", "divergences", "wall_rejections",
                    "numerical_divergences", "failed_chains", "restrict", "basin_fraction", "note"}
SGLD_DIAGNOSTICS = {"backend", "chains", "draws", "warmup", "step_size", "mala_accept", "escaped", "nonfinite",
                    "below_start_fraction", "mean_distance", "max_distance"}


def test_sgld_json_keys(capsys):
    rc = main(["llc", "--features", "6", "--phase", "6", "--n", "2e3", "--method", "sgld", "--format", "json",
               "--chains", "4", "--draws", "300", "--warmup", "100"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS
    assert out["phase"] == "6" and out["n"] == 2000 and out["method"] == "sgld" and out["theory"] == 8.5
    assert out["llc"] > 0 and out["se"] > 0
    assert set(out["diagnostics"]) == SGLD_DIAGNOSTICS and out["diagnostics"]["chains"] == 4
    reg = out["regime"]
    assert set(reg) == {"gaussian_prediction", "z", "in_validated_regime", "reason"}
    assert reg["gaussian_prediction"] == pytest.approx(llc_accuracy.quadratic_llc(6, "6", 2000, 1.0))


def test_theory_is_null_on_a_wall(capsys):
    rc = main(["llc", "--phase", "4", "--n", "500", "--method", "sgld", "--format", "json", "--chains", "2",
               "--draws", "50", "--warmup", "10"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["theory"] is None


def test_nuts_json_keys_with_a_stub_sampler(capsys, monkeypatch):
    bayes_tms = pytest.importorskip("bayes_tms")
    assert callable(bayes_tms.nuts_llc)
    seen = {}

    def stub(W0, b0, x, **kw):
        seen.update(kw, n=len(x))
        return SimpleNamespace(llc=8.4, se=0.1, ess=400.0, nbeta=len(x) / math.log(len(x)), divergences=3,
                               backend="nutpie", chains=4, draws=100, failed_chains=1, restrict="basin",
                               basin_fraction=1.0, wall_rejections=2)

    monkeypatch.setattr(bayes_tms, "nuts_llc", stub)
    assert main(["llc", "--phase", "6", "--n", "1000", "--method", "nuts", "--format", "json",
                 "--draws", "100", "--warmup", "50", "--gamma", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS and {k: out[k] for k in ("phase", "n", "method", "llc", "se", "theory")} == {
        "phase": "6", "n": 1000, "method": "nuts", "llc": 8.4, "se": 0.1, "theory": 8.5}
    d = out["diagnostics"]
    assert set(d) == NUTS_DIAGNOSTICS and (d["backend"], d["divergences"], d["failed_chains"]) == ("nutpie", 3, 1)
    assert (d["wall_rejections"], d["numerical_divergences"]) == (2, 1) and "basin" in d["note"]
    # 8.4 +- 0.1 against the Gaussian prediction at n = 1000, gamma = 10: a checked, stated regime
    q = llc_accuracy.quadratic_llc(6, "6", 1000, 10.0)
    assert out["regime"]["gaussian_prediction"] == pytest.approx(q)
    assert out["regime"]["in_validated_regime"] == (abs(8.4 - q) <= 3 * 0.1 + 0.05 * q)
    assert seen["draws"] == 100 and seen["warmup"] == 50 and seen["gamma"] == 10.0 and seen["n"] == 1000


@pytest.mark.slow
def test_nuts_json_keys(capsys):
    pytest.importorskip("bayes_tms")
    pytest.importorskip("pymc")

    rc = main(["llc", "--features", "6", "--phase", "6", "--n", "1000", "--method", "nuts", "--format", "json",
               "--chains", "2", "--draws", "100", "--warmup", "100"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS and out["method"] == "nuts" and out["llc"] == out["llc"]


def test_text_output_names_the_diagnostics(capsys):
    assert main(["llc", "--phase", "5", "--n", "1000", "--method", "sgld", "--chains", "2", "--draws", "60",
                 "--warmup", "10"]) == 0
    text = capsys.readouterr().out
    assert "llc =" in text and "accept=" in text and "theory 7" in text


@pytest.mark.parametrize("argv, message", [
    (["--phase", "9", "--n", "100", "--method", "sgld"], "phase: expected one of"),
    (["--phase", "7", "--n", "100", "--method", "sgld"], "for c = 6, got '7'"),
    (["--phase", "6", "--n", "1", "--method", "sgld"], "--n: expected an integer >= 2"),
    (["--phase", "6", "--n", "1.5e3x", "--method", "sgld"], "--n: expected an integer >= 2"),
    (["--phase", "6", "--n", "100", "--method", "mcmc"], "--method: expected one of nuts, sgld"),
    (["--phase", "6", "--n", "100", "--method", "sgld", "--step", "0"], "--step: expected a finite number > 0"),
    (["--phase", "6", "--n", "100", "--method", "sgld", "--step=-1e-3"], "--step: expected a finite number > 0"),
    (["--n", "100"], "expected --phase and --n"),
    (["--phase", "6", "--n", "100", "--ns", "100,200"], "--out: expected a folder"),
    (["--phase", "6", "--n", "100", "--method", "sgld", "--draws", "10", "--warmup", "10"], "--warmup"),
    (["--measure-phases", "--phases", "4", "--out", "/tmp", "--draws", "800"],
     "--measure-phases: expected none of --draws"),
])
def test_bad_inputs_give_one_line_and_exit_2(argv, message, capsys):
    assert main(["llc", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def _fake_estimate(c, label, n, method, **kw):
    theory, kind = llc_accuracy.theory_llc(c, label)
    llc = theory * (1 + 1 / n ** 0.5)
    return {"phase": label, "n": n, "method": method, "llc": llc, "se": 0.1, "theory": theory,
            "theory_kind": kind, "rel_error": llc / theory - 1, "gamma": kw.get("gamma", 1.0),
            "nbeta": 1.0, "wall_s": 0.0, "diagnostic": "mock"}


def test_sweep_writes_csv_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(llc_job, "llc_estimate", _fake_estimate)
    rc = main(["llc", "--features", "6", "--phases", "6,5+,4", "--ns", "1e3,1e4", "--methods", "nuts,sgld",
               "--out", str(tmp_path)])
    assert rc == 0
    rows = list(csv.DictReader(open(tmp_path / "llc_table.csv")))
    assert len(rows) == 12 and set(llc_accuracy.COLUMNS) == set(rows[0])
    assert {r["theory_kind"] for r in rows if r["phase"] == "4"} == {"bound"}
    assert (tmp_path / "llc_vs_n.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out


def test_sweep_rejects_bad_labels_before_sampling(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(llc_job, "llc_estimate", lambda *a, **k: pytest.fail("sampled"))
    assert main(["llc", "--phases", "6,8", "--out", str(tmp_path)]) == 2
    assert "phase: expected one of" in capsys.readouterr().err


def test_cli_module_imports_no_engine():
    code = ("import sys, comparisons.cli.llc, comparisons.analysis.llc_accuracy, comparisons.jobs.llc_accuracy; "
            "print(any(m in sys.modules for m in ('torch', 'pymc', 'sgd_tms', 'bayes_tms')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_regime_flag_known_answers():
    ok = llc_accuracy.regime(8.45, 0.05, 8.43, "exact")
    assert ok["in_validated_regime"] and ok["reason"] == ""
    off = llc_accuracy.regime(9.80, 0.09, 8.04, "exact")  # the small-n case of issue 12: far off
    assert not off["in_validated_regime"] and "+1.76" in off["reason"] and off["z"] > 19
    below = llc_accuracy.regime(8.0, 0.0, 8.4, "exact")  # no spread: the sign of z still says below
    assert below["z"] == -math.inf and below["in_validated_regime"]
    wall = llc_accuracy.regime(4.0, 0.1, 3.5, "bound")
    assert not wall["in_validated_regime"] and "wall" in wall["reason"]


def test_beta_flag_sets_n_beta(capsys):
    rc = main(["llc", "--phase", "6", "--n", "2000", "--method", "sgld", "--beta", "0.5", "--format", "json",
               "--chains", "2", "--draws", "60", "--warmup", "10"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nbeta"] == pytest.approx(1000.0)
    assert out["regime"]["gaussian_prediction"] == pytest.approx(llc_accuracy.quadratic_llc(6, "6", 2000, 1.0, 0.5))
    assert main(["llc", "--phase", "6", "--n", "2000", "--beta", "0"]) == 2


def test_the_llc_sweep_owns_its_folder(tmp_path, monkeypatch, capsys):
    """An llc sweep records itself in its folder, reruns there, and refuses another job's folder (issue 21)."""
    import json

    from comparisons import folder as folder_mod

    monkeypatch.setattr(llc_job, "llc_estimate", _fake_estimate)
    argv = ["llc", "--features", "6", "--phases", "6", "--ns", "1e3", "--methods", "nuts", "--out"]
    assert main([*argv, str(tmp_path / "L")]) == 0
    assert folder_mod.read_owner(tmp_path / "L")["job"] == "llc"
    assert main([*argv, str(tmp_path / "L")]) == 0  # the same job again: its stored task is reused
    other = tmp_path / "S"
    other.mkdir()
    (other / folder_mod.OWNER_FILE).write_text(json.dumps({"job": "sgd", "command": "tms-phases sgd --out S",
                                                           "config_hash": "0", "outputs": []}))
    capsys.readouterr()
    assert main([*argv, str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`sgd`" in err
    assert not (other / "llc_table.csv").exists()
