"""``tms-phases reproduce``: theory, Bayesian sweep, SGD ensemble with LLCs, one report.

Each stage writes into its own folder under ``--out`` (``theory/``, ``bayes/``, ``sgd/``) through
the engines' own commands, which resume: a re-run with the same folder reuses every finished
posterior (one file per n) and an intact SGD trajectory whose configuration matches, so only the
tables, figures and the report are recomputed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..config_file import DefaultsHelpFormatter
from ..errors import InputError

#: the study over data sets and conventions (paper preset): both named likelihood conventions,
#: 8 data sets each, and the population loss
STUDY = ["--datasets", "8", "--conventions", "tempered,gaussian-sigma1", "--population"]
#: preset -> stage -> its ``tms-phases`` arguments; stages run in this order. ``bayes`` is the NUTS
#: ladder bridge, ``bayes_pt`` replica exchange on the same data (the second estimator beside it),
#: ``bayes_study`` replica exchange over many data sets and both conventions
PRESETS: dict[str, dict[str, list[str]]] = {
    "quick": {"bayes": ["bayes", "--preset", "quick"],
              "bayes_pt": ["bayes", "--sampler", "pt", "--preset", "quick"],
              "sgd": ["sgd", "--preset", "quick"]},
    "paper": {"bayes": ["bayes", "--preset", "paper"],
              "bayes_pt": ["bayes", "--sampler", "pt", "--preset", "paper"],
              "bayes_study": ["bayes", "--sampler", "pt", "--preset", "paper", *STUDY],
              "sgd": ["sgd", "--preset", "paper", "--runs", "100"]},
    # a test-only size: seconds, exercises every stage and every file of the report
    "tiny": {"bayes": ["bayes", "--n", "100,200,300", "--chains", "4", "--draws", "30", "--tune", "30",
                       "--backend", "pymc", "--bootstrap", "50", "--cores", "1"],
             "bayes_pt": ["bayes", "--sampler", "pt", "--n", "100,200,300", "--copies", "2", "--sweeps", "20",
                          "--warmup", "10", "--bootstrap", "50"],
             "bayes_study": ["bayes", "--sampler", "pt", "--n", "100,200", "--copies", "2", "--sweeps", "10",
                             "--warmup", "5", "--bootstrap", "20", "--datasets", "2", "--conventions",
                             "tempered,gaussian-sigma1", "--population"],
             "sgd": ["sgd", "--preset", "smoke", "--runs", "3", "--epochs", "20", "--checkpoint-every", "5",
                     "--llc-draws", "20", "--llc-chains", "2"]},
}
#: which --skip flag leaves a stage out
SKIP = {"bayes": "skip_bayes", "bayes_pt": "skip_bayes", "bayes_study": "skip_bayes", "sgd": "skip_sgd"}


def _preset(value: str) -> str:
    if value not in PRESETS:
        raise InputError(f"--preset: expected one of quick, paper (or tiny, for tests), got {value!r}")
    return value


def _features(value: str) -> int:
    try:
        c = int(value)
    except ValueError:
        raise InputError(f"--features: expected an integer from 4 to 6, got {value!r}") from None
    if c not in (4, 5, 6):
        raise InputError(f"--features: expected 4, 5 or 6 (the presets' settings), got {c}")
    return c


def _seed(value: str) -> int:
    try:
        s = int(value)
    except ValueError:
        s = -1
    if s < 0:
        raise InputError(f"--seed: expected a non-negative integer, got {value!r}")
    return s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("quick: c=6 Bayesian ladder of 9 n from 150 to 1200 (24 chains), 32 SGD runs of the "
                     "paper protocol with LLCs; a few minutes on 2 cores. paper: the full study (18 n from 100 "
                     "to 2000 with 64 chains; 100 SGD runs). Writes report.md and a self-contained "
                     "report.html into --out; re-running with the same --out reuses finished parts.")
    parser.add_argument("--preset", type=_preset, default="quick", help="quick or paper")
    parser.add_argument("--features", "-c", type=_features, default=6, metavar="C",
                        help="number of features (4, 5 or 6)")
    parser.add_argument("--out", default="tms-report", metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=_seed, default=0, help="root seed of both engines")
    parser.add_argument("--skip-bayes", action="store_true", help="leave out the Bayesian sweep")
    parser.add_argument("--skip-sgd", action="store_true", help="leave out the SGD ensemble")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)  # forwarded to both engines when given
    parser.set_defaults(executor=None, retries=None)


def _sweep_flags(args: argparse.Namespace) -> list[str]:
    flags = []
    for name in ("executor", "workers", "scheduler", "retries"):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name}", str(value)]
    if getattr(args, "dask_local", False):
        flags.append("--dask-local")
    return flags


def engine_arguments(args: argparse.Namespace) -> dict[str, list[str]]:
    """The exact ``tms-phases`` argument list of each stage of this run (skipped stages left out)."""
    out = Path(args.out)
    common = ["--features", str(args.features), "--seed", str(args.seed)]
    quiet = ["--no-progress"] if args.no_progress else []
    sweep = _sweep_flags(args)
    return {stage: [*argv, *common, "--out", str(out / stage), *quiet,
                    *(sweep if argv[:3] != ["bayes", "--sampler", "pt"] else [])]
            for stage, argv in PRESETS[args.preset].items() if not getattr(args, SKIP[stage])}


def _engine_compute(folder: Path, stage: str) -> tuple[float | None, bool]:
    """``(compute seconds, cached)`` an engine recorded in its folder (None if it recorded none)."""
    try:
        if stage == "bayes":
            t = json.loads((folder / "timing.json").read_text())
            return float(t["compute_s"]), bool(t.get("cached"))
        if stage.startswith("bayes_"):
            t = json.loads((folder / "timing.json").read_text())
            return float(t["compute_s"]), bool(t.get("cached"))
        t = json.loads((folder / "summary.json").read_text()).get("timings_s", {})
        value = t.get("train_and_llc_s")
        return (float(value) if value is not None else None), bool(t.get("cached"))
    except (OSError, ValueError, KeyError, TypeError):
        return None, False


def check_engine_arguments(args: argparse.Namespace, engines: dict[str, list[str]]) -> None:
    """Parse each stage's command line and build its configuration; InputError if any is bad.

    Without this a bad SGD setting would only surface after the whole Bayesian sweep.
    """
    from . import build_parser

    from ..cost import bayes_seconds, confirm, sgd_seconds

    seconds, parts = 0.0, []
    for stage, argv in engines.items():
        parsed = build_parser(argv[0]).parse_args(argv)
        if stage.startswith("bayes_"):
            from ..jobs.bayes_pt import config_from_args as pt_config, pt_seconds

            config, opts = pt_config(parsed)
            seconds += pt_seconds(config, opts)
        elif stage == "bayes":
            from .bayes import config_from_args

            seconds += bayes_seconds(config_from_args(parsed))
        else:
            from .sgd import _configs

            seconds += sgd_seconds(*_configs(parsed))
        parts.append(stage)
    confirm(seconds, " + ".join(parts) + " stages", getattr(args, "yes", False))
    for argv in engines.values():  # confirmed once for the whole run
        if "--yes" not in argv:
            argv.append("--yes")


def run(args: argparse.Namespace) -> int:
    from . import main
    from ..compare import bayes_moves, switch_line
    from ..io import check_writable_dir, write_json, write_text
    from ..report import load_bayes, write_report
    from ..theory import crossings, dominant_intervals, enumerate_phases

    out = check_writable_dir(args.out)
    engines = engine_arguments(args)
    check_engine_arguments(args, engines)  # every stage's inputs, before the first one starts
    timings: dict[str, float] = {}  # seconds of computation behind each stage's results
    this_run: dict[str, float] = {}  # seconds this call spent (small when results were reused)
    cached: list[str] = []  # stages whose results (some or all) were computed by an earlier run
    t0 = time.perf_counter()
    phases = enumerate_phases(args.features)
    theory = {"features": args.features, "phases": [p.to_dict() for p in phases],
              "crossings": crossings(phases, 1e6), "dominant": dominant_intervals(phases, 10, 1e6)}
    write_json(out / "theory" / "theory.json", theory)
    timings["theory"] = time.perf_counter() - t0
    for stage in engines:
        print(f"== {stage}: tms-phases {' '.join(engines[stage])}", file=sys.stderr)
        t0 = time.perf_counter()
        status = main(engines[stage])
        this_run[stage] = time.perf_counter() - t0
        compute, was_cached = _engine_compute(out / stage, stage)
        timings[stage] = compute if was_cached and compute is not None else this_run[stage]
        if was_cached:
            cached.append(stage)
        if status != 0:
            print(f"error: the {stage} stage failed (exit {status}); finished parts are kept in {out}",
                  file=sys.stderr)
            return status
    t0 = time.perf_counter()
    config = {"preset": args.preset, "features": args.features, "seed": args.seed,
              "commands": {k: "tms-phases " + " ".join(v) for k, v in engines.items()}}
    md, html = write_report(out, args.features, out / "bayes" if "bayes" in engines else None,
                            out / "sgd" if "sgd" in engines else None, config, timings,
                            cached=cached, this_run=this_run,
                            second_bayes_dir=out / "bayes_pt" if "bayes_pt" in engines else None,
                            study_dir=out / "bayes_study" if "bayes_study" in engines else None)
    timings["report"] = time.perf_counter() - t0
    write_json(out / "reproduce.json", {"config": config, "wall_seconds": timings, "cached": cached,
                                        "this_run_seconds": this_run})
    bayes = None if args.skip_bayes else load_bayes(out / "bayes")
    lines = [f"theory (c = {args.features}): dominant phases "
             + " -> ".join(f"{d['phase']} (n < {d['n_to']:.0f})" for d in theory["dominant"][-3:])]
    if bayes:
        lines.append("Bayesian dominant phase along n: "
                     + (", ".join(f"{a} -> {b}" for a, b in bayes_moves(bayes["occupancy"])) or "no change"))
        for t in bayes["transitions"]:
            if t.get("level", "phase") == "phase":
                lines.append("  " + switch_line(t))
    summary = Path(out / "sgd" / "summary.json")
    if not args.skip_sgd and summary.exists():
        s = json.loads(summary.read_text())
        rho = s.get("spearman_loss_llc")
        lines.append(f"SGD: {s['runs']} runs, {s['plateaus']} plateaus, Spearman(loss, LLC) = "
                     f"{'-' if rho is None else f'{rho:.3f}'}; most common path: "
                     f"{s['top_paths'][0]['path'] if s.get('top_paths') else '-'}")
    lines.append(f"report: {md} and {html} (wall: "
                 + ", ".join(f"{k} {v:.0f} s" + (" (cached)" if k in cached else "") for k, v in timings.items())
                 + ")")
    write_text(out / "summary.txt", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
