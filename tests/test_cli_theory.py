"""``tms-phases kgons`` and ``tms-phases theory``: outputs and one-line errors."""

import csv
import io
import json
import subprocess
import sys

import pytest

from comparisons.cli import main

KEYS = {"label", "k", "sigma", "phi", "length", "bias", "loss", "prior_term", "llc", "grad_norm", "hessian_rank"}


def test_kgons_json_csv_and_table(capsys):
    assert main(["kgons", "--features", "6", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert KEYS <= set(rows[0]) and rows[0]["label"] == "6"
    assert all(r["grad_norm"] < 1e-8 for r in rows)
    six = rows[0]
    assert six["llc"] == 8.5 and six["hessian_rank"] == 17
    assert main(["kgons", "-c", "5", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert table[0]["label"] == "5" and KEYS <= set(table[0])
    assert main(["kgons", "-c", "4"]) == 0
    assert "4+" not in capsys.readouterr().out.split()[:3]


def test_theory_json(capsys):
    assert main(["theory", "--features", "6", "--n-max", "1e5", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"phases", "crossings", "dominant"} <= set(out)
    assert all(set(e) == {"from", "to", "n"} and 1 <= e["n"] <= 1e5 for e in out["crossings"])
    assert out["dominant"][-1]["phase"] == "6" and out["dominant"][-1]["n_to"] == 1e5
    five_six = [e for e in out["crossings"] if (e["from"], e["to"]) == ("5", "6")]
    assert len(five_six) == 1 and out["dominant"][-1]["n_from"] == pytest.approx(five_six[0]["n"])
    assert main(["theory", "-c", "6"]) == 0
    assert "Dominant phase" in capsys.readouterr().out
    assert main(["theory", "-c", "6", "--laplace", "--format", "json"]) == 0
    lap = json.loads(capsys.readouterr().out)["laplace_crossings"]
    five_six = next(e for e in lap if (e["from"], e["to"]) == ("5", "6"))
    assert 100 < five_six["n"] < out["dominant"][-1]["n_from"]  # the O(1) terms bring it earlier


@pytest.mark.parametrize("argv, fragment", [
    (["kgons", "--features", "9"], "--features: expected an integer from 2 to 8, got 9"),
    (["kgons", "--features", "six"], "--features"),
    (["kgons", "--format", "xml"], "--format: expected one of table, json, csv"),
    (["theory", "--n-max", "-5"], "--n-max: expected a number above 10"),
    (["theory", "--format", "csv"], "--format"),
    (["theory", "--beta", "0"], "--beta: expected a finite number > 0, got '0'"),
    (["theory", "--beta=-2"], "--beta: expected a finite number > 0, got '-2'"),
    (["theory", "--beta", "inf"], "--beta: expected a finite number > 0, got 'inf'"),
    (["theory", "--beta", "hot"], "--beta: expected a finite number > 0, got 'hot'"),
    (["nonsense"], "COMMAND: expected one of kgons"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "comparisons.cli", "kgons", "-c", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "2" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "comparisons.cli", "kgons", "-c", "1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_config_file_gives_defaults_and_flags_win(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text('[kgons]\nfeatures = 4\nformat = "json"\n\n[theory]\nn-max = 5000\n')
    assert main(["kgons", "--config", str(cfg)]) == 0
    assert {r["label"] for r in json.loads(capsys.readouterr().out)} >= {"4", "3+"}
    assert main(["kgons", "--config", str(cfg), "--features", "5"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "5"
    assert main(["theory", "--config", str(cfg), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["dominant"][-1]["n_to"] == 5000
    cfg.write_text("[kgons]\nfeaturs = 4\n")
    assert main(["kgons", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'featurs'" in err and err.count("\n") == 1


def test_theory_at_beta_moves_every_prediction_by_one_over_beta(capsys):
    assert main(["theory", "-c", "6", "--n-max", "1e5", "--format", "json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["beta"] == 1.0
    assert main(["theory", "-c", "6", "--n-max", "2e5", "--beta", "0.5", "--format", "json"]) == 0
    half = json.loads(capsys.readouterr().out)
    assert half["beta"] == 0.5
    assert [d["phase"] for d in half["dominant"]] == [d["phase"] for d in one["dominant"]]
    for a, b in zip(one["dominant"][1:], half["dominant"][1:]):
        assert b["n_from"] == pytest.approx(2 * a["n_from"], rel=1e-9)
    assert main(["theory", "-c", "6", "--beta", "0.5"]) == 0
    table = capsys.readouterr().out
    assert "beta = 0.5" in table and f"{half['dominant'][-1]['n_from']:.6g}" in table


def test_config_file_sets_beta(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text('[theory]\nbeta = 0.25\nformat = "json"\n')
    assert main(["theory", "--config", str(cfg)]) == 0
    quarter = json.loads(capsys.readouterr().out)
    assert main(["theory", "--config", str(cfg), "--beta", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert quarter["beta"] == 0.25 and one["beta"] == 1.0
    assert quarter["dominant"][-1]["n_from"] == pytest.approx(4 * one["dominant"][-1]["n_from"], rel=1e-9)
    cfg.write_text("[theory]\nbeta = -1\n")
    assert main(["theory", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "beta: expected a finite number > 0, got '-1'" in err and err.count("\n") == 1


def test_judge_reads_the_pt_runs_transitions_hand_off(tmp_path, capsys):
    """``theory --judge`` takes the measured switches from the run's ``transitions.nc`` (the JSON is an
    export only), and a folder without it is one line, exit 2."""
    from comparisons.contracts import level_switches, read_transitions

    run = tmp_path / "pt"
    assert main(["bayes", "--sampler", "pt", "--population", "-c", "5", "--n", "40,80,120,160,240", "--copies", "2",
                 "--sweeps", "300", "--warmup", "50", "--out", str(run), "--yes", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["theory", "--judge", str(run), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sw = level_switches(read_transitions(run / "transitions.nc"), "phase")
    measured = {(str(a), str(b)): float(n) for a, b, n in zip(sw["from"].values, sw["to"].values, sw["n"].values)}
    assert out["features"] == 5 and measured
    judged = {(r["from"], r["to"]): r["measured"] for r in out["rows"] if r["measured"] is not None}
    assert judged == measured
    (run / "transitions.nc").unlink()
    assert main(["theory", "--judge", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "transitions.nc" in err[0]
