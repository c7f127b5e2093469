"""Issue 23: every command and ``reproduce`` at c = 4..8.

The preset tables (NUTS/SMC ladders, replica exchange, the SGD protocol) cover every c; each
paper ladder reaches past the last crossing of the asymptotic dominant sequence at the beta its
stage samples; a c outside the range is refused in one line, before any work, by every command.
"""

import subprocess
import sys

import pytest

from comparisons.cli import build_parser, main
from comparisons.cli.reproduce import PRESETS, plan, preset_features
from comparisons.theory import dominant_intervals, enumerate_phases

CS = (4, 5, 6, 7, 8)


def last_crossing(c: int, beta: float) -> float:
    """The n of the last change of the asymptotic dominant phase (n up to 1e6) at ``beta``."""
    return dominant_intervals(enumerate_phases(c), 10, 1e6, beta=beta)[-1]["n_from"]


def test_every_preset_table_covers_c_4_to_8():
    from bayes_tms.config import PRESETS as LADDERS
    from sgd_tms.config import PRESETS as SGD
    from sgd_tms.config import preset

    from bayes_tms.pt import PT_PRESETS

    assert preset_features() == CS
    for table in (*LADDERS.values(), *PT_PRESETS.values(), *SGD.values()):
        assert set(CS) <= set(table)
    for c in CS:  # the paper's SGD protocol at every c, with its initialisation named
        tc = preset("paper", features=c)
        assert (tc.n, tc.lr, tc.batch_size, tc.epochs, tc.features) == (1000, 0.005, 20, 4500, c)
        assert (tc.init, tc.init_k, tc.init_noise) == ("kgon", SGD["paper"][c]["init_k"], 0.01)
        assert 4 <= tc.init_k < c or c == 4


@pytest.mark.parametrize("c", CS)
def test_paper_ladders_reach_past_the_last_predicted_crossing(tmp_path, c):
    args = build_parser("reproduce").parse_args(["reproduce", "--preset", "paper", "-c", str(c),
                                                 "--out", str(tmp_path)])
    stages = plan(args)
    assert set(stages) == set(PRESETS["paper"])
    nuts, smc = stages["bayes"].config, stages["smc"].config
    assert nuts.beta == smc.beta == 0.5 and max(nuts.ns) > last_crossing(c, 0.5)
    for name in ("bayes_pt", "bayes_pt_sigma1", "bayes_study"):
        config, _ = stages[name].config
        assert config.features == c and min(config.ns) == 16  # starts where the posterior mixes freely
        for beta in ((0.5, 1.0) if name == "bayes_study" else (config.beta,)):
            assert max(config.ns) > last_crossing(c, beta), (name, beta)
        assert config.min_swap_accept > 0  # rungs are inserted until every neighbour pair swaps
    assert stages["sgd"].config[0].features == c


@pytest.mark.parametrize("c", CS)
def test_quick_and_tiny_presets_build_at_every_c(tmp_path, c):
    for preset in ("quick", "tiny"):
        args = build_parser("reproduce").parse_args(["reproduce", "--preset", preset, "-c", str(c),
                                                     "--out", str(tmp_path)])
        stages = plan(args)
        assert set(stages) == set(PRESETS[preset])
    quick = plan(build_parser("reproduce").parse_args(["reproduce", "--preset", "quick", "-c", str(c),
                                                       "--out", str(tmp_path)]))
    pt, _ = quick["bayes_pt"].config
    assert max(pt.ns) > last_crossing(c, 1.0)


#: (command, extra flags): every command that takes --features, with what it needs beside it
COMMANDS = [("reproduce", []), ("bayes", []), ("bayes", ["--preset", "quick"]), ("sgd", []),
            ("free-energy", []), ("theory", []), ("kgons", []), ("llc", [])]


@pytest.mark.parametrize("command, extra", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_features_out_of_range_is_one_line_naming_the_range(tmp_path, capsys, command, extra):
    out = tmp_path / "out"
    needs_out = command in ("reproduce", "bayes", "sgd", "free-energy")
    for c in ("9",) + (("3",) if command in ("reproduce", "sgd") or extra else ()):
        argv = [command, "--features", c, *extra, *(["--out", str(out)] if needs_out else [])]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--features" in err and c in err
        assert any(r in err for r in ("2 to 8", "2 <= c <= 8", "4 to 8", "4..8")), err
        assert not out.exists()  # refused before any work


def test_features_error_has_no_traceback():
    r = subprocess.run([sys.executable, "-m", "comparisons.cli", "reproduce", "--features", "9", "--out",
                        "/nonexistent/x"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "4 to 8" in r.stderr


@pytest.mark.parametrize("c", (7, 8))
def test_the_paper_study_at_c7_c8_is_estimated_under_two_hours(tmp_path, c):
    """Issue 23: the paper-preset study at c = 8 runs under --yes in under 2 hours on 2 cores (the
    study's runs on a pool of 2 workers), by the cost model every command prints before it starts
    (comparisons.cost)."""
    args = build_parser("reproduce").parse_args(["reproduce", "--preset", "paper", "-c", str(c),
                                                 "--workers", "2", "--out", str(tmp_path)])
    assert sum(p.seconds for p in plan(args).values()) < 2 * 3600


def test_reproduce_gives_the_sweep_flags_to_the_switch_study(tmp_path):
    """--workers reaches the study's runs (they are sweep tasks) and its estimate; without it the
    study runs in-process, as `bayes --datasets` does."""
    def planned(*extra):
        args = build_parser("reproduce").parse_args(["reproduce", "--preset", "paper", "--out", str(tmp_path), *extra])
        return plan(args)["bayes_study"]

    serial, pool = planned(), planned("--workers", "2")
    assert "--workers 2" in pool.command and "--workers" not in serial.command
    assert pool.seconds < 0.6 * serial.seconds
