"""Calibration of the cost estimates (:mod:`comparisons.cost`): estimate / actual per stage.

Usage (from the repository root)::

    python benchmarks/bench_cost.py                       # tiny stages + quick PT + paper PT (c = 6)
    python benchmarks/bench_cost.py --scales tiny         # seconds: the tiny stages only
    python benchmarks/bench_cost.py --scales tiny,quick,paper --stages bayes_pt,sgd

Each row runs one stage of ``tms-phases reproduce`` (:data:`comparisons.cli.reproduce.PRESETS`),
``tiny``, ``quick`` or ``paper``, as its own command in a fresh process and a fresh folder (so
that compilation, imports and nothing cached are part of what is timed), and prints a markdown
table: the stage, the estimate that the command prints first, the measured wall time and their
ratio, then the command of each row. The target is a ratio between 0.5 and 2 on 2 cores. The
CPU seconds of the command (user + system) and the 1-minute load average beside each row tell a
row slowed by other work on the machine (load above the number of cores) from a wrong estimate.

The paper-scale row is the replica-exchange paper preset for one data set (c = 6; about two
minutes on 2 cores), the largest stage that fits in a few minutes. The benchmark estimates itself
first (the sum of the rows' estimates) and needs ``--yes`` above one hour, as every command does.
After the PT sampler changes speed, refit ``PT_CALL_S``, ``PT_REPLICA_S`` and
``PT_TARGET_S_PER_N`` in comparisons/cost.py (the PT constants sit together there) from the
``bayes_pt`` rows.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from comparisons.cli.reproduce import PRESETS, plan_stage
from comparisons.cost import confirm, format_duration

#: which stages run at each scale by default (the paper scale: the one stage that fits in minutes)
DEFAULT_STAGES = {"tiny": ("bayes", "bayes_pt", "smc", "bayes_study", "sgd"),
                  "quick": ("bayes_pt", "sgd"),
                  "paper": ("bayes_pt",)}


def _args(scale: str) -> SimpleNamespace:
    """The namespace ``plan_stage`` reads (as ``tms-phases reproduce --preset SCALE`` would build it)."""
    return SimpleNamespace(preset=scale, features=6, seed=0, no_progress=True, executor=None, workers=None,
                           scheduler=None, dask_local=False, retries=None, skip_bayes=False, skip_sgd=False)


def rows_to_run(scales, stages) -> list[tuple[str, str, object]]:
    """``(scale, stage, Planned)`` for every requested row, each in its own temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="bench_cost_"))
    out = []
    for scale in scales:
        for stage in (stages or DEFAULT_STAGES[scale]):
            if stage not in PRESETS[scale]:
                continue
            planned = plan_stage(PRESETS[scale][stage], 6, 0, root / scale / stage, _args(scale))
            if stage == "smc" and "bayes" not in (stages or DEFAULT_STAGES[scale]):
                # no NUTS run beside it: SMC alone (--bayes-dir would name a folder never written)
                planned.command = re.sub(r" --bayes-dir \S+", "", planned.command)
            out.append((scale, stage, planned))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="tiny,quick,paper", help="comma-separated: tiny, quick, paper")
    ap.add_argument("--stages", default=None, help="comma-separated stages (default: per scale, see the docstring)")
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = ap.parse_args(argv)
    scales = [s for s in args.scales.split(",") if s]
    bad = [s for s in scales if s not in PRESETS]
    if bad:
        ap.error(f"--scales: expected some of {', '.join(PRESETS)}, got {', '.join(bad)}")
    stages = [s for s in args.stages.split(",") if s] if args.stages else None
    rows = rows_to_run(scales, stages)
    if not rows:
        ap.error(f"--stages: expected stages of the presets {', '.join(scales)}, got {args.stages!r}")
    try:
        confirm(sum(p.seconds for _, _, p in rows), f"{len(rows)} stage(s) of {', '.join(scales)}", args.yes)
    except Exception as exc:  # the one-line refusal of the gate
        ap.error(str(exc))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    table = ["| scale | stage | estimate | actual (wall) | estimate / actual | CPU s | load |",
             "|---|---|---:|---:|---:|---:|---:|"]
    commands = []
    for scale, stage, planned in rows:
        cmd = planned.command.replace("tms-phases ", f"{shlex.quote(sys.executable)} -m comparisons.cli ", 1)
        load0 = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(shlex.split(cmd) + ["--yes"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        load = (load0 + os.getloadavg()[0]) / 2
        status = "" if proc.returncode == 0 else f" (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]})"
        table.append(f"| {scale} | {stage} | {format_duration(planned.seconds)} | {format_duration(wall)} | "
                     f"{planned.seconds / wall:.2f}{status} | {cpu:.0f} | {load:.1f} |")
        commands.append(f"- {scale} {stage}: `{planned.command}`")
        print(table[-1], file=sys.stderr, flush=True)
    print(f"Cost estimates against wall time ({os.cpu_count()} cores; `python benchmarks/bench_cost.py "
          f"{' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}`):\n")
    print("\n".join(table))
    print("\nCommands:\n")
    print("\n".join(commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
