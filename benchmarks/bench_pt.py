"""Wall time and mixing of parallel tempering over the n-ladder of the TMS posterior.

Usage (from the repository root)::

    python benchmarks/bench_pt.py --scale quick --beta 1.0 --seed 0
    python benchmarks/bench_pt.py --scale paper --beta 0.5 --min-round-trips 50

``quick``: the ``n`` of the ``quick`` preset of :mod:`bayes_tms.config` (c = 6, up to 1200).
``paper``: 12 geometric rungs from 16 to 2000 (rungs are inserted by the refinement as needed);
the run continues in chunks until every copy has ``--min-round-trips`` round trips (or
``--max-sweeps``). Prints the ladder, swap acceptances, round trips, HMC acceptance, the draw
fractions per rung of the k-gon families 6, 5 (``5``, ``5+``, ...), 4, of unclassified draws
(:func:`comparisons.theory.classify`) and of the rest, and the 5 -> 6 switch ``n``: the first
rung from which family 6 outweighs family 5 at every larger rung.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bayes_tms.config import PRESETS
from bayes_tms.pt import PTConfig, pt_diagnostics, run, sample_tms_pt, to_inference_data
from bayes_tms.occupancy import family
from comparisons.theory import UNCLASSIFIED, classify, enumerate_phases


def _ladder(scale: str, c: int) -> tuple[int, ...]:
    if scale == "quick":
        return tuple(PRESETS["quick"][c]["ns"])
    return tuple(int(v) for v in np.unique(np.round(np.geomspace(16, 2000, 12)).astype(int)))


def switch_n(ns, frac5, frac6):
    """First rung from which family 6 outweighs family 5 at every larger rung (None if never)."""
    above = np.asarray(frac6) > np.asarray(frac5)
    for k in range(len(ns)):
        if above[k:].all():
            return int(ns[k])
    return None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=("quick", "paper"), default="quick")
    ap.add_argument("--features", type=int, default=6)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--leapfrog", type=int, default=10)
    ap.add_argument("--thin", type=int, default=2)
    ap.add_argument("--min-round-trips", type=int, default=0,
                    help="keep sampling in chunks of --sweeps until every copy has this many")
    ap.add_argument("--max-sweeps", type=int, default=20000)
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args(argv)

    c = args.features
    cfg = PTConfig(ns=_ladder(args.scale, c), features=c, beta=args.beta, seed=args.seed,
                   copies=args.copies, sweeps=args.sweeps, warmup=args.warmup,
                   leapfrog=args.leapfrog, thin=args.thin)
    t0 = time.perf_counter()
    res = sample_tms_pt(cfg)
    state = res.state
    while state.round_trips.min() < args.min_round_trips and state.kept_sweeps < args.max_sweeps:
        state = run(state, res.target, args.sweeps)
    wall = time.perf_counter() - t0
    diag = pt_diagnostics(state, res.diagnostics.attrs)
    posts = to_inference_data(state, res.target, rungs="all", attrs=res.attrs, loss_name=res.attrs["loss_name"])
    phases = enumerate_phases(c)
    ns = state.ns.tolist()
    frac = {}
    for n in ns:
        post = posts[n].posterior
        labels, _ = classify(post["W"].values, post["b"].values, phases)
        fam = np.vectorize(family, otypes=[str])(labels)  # "5+-" -> "5"
        frac[n] = {f: float(np.mean(fam == f)) for f in ("6", "5", "4")}
        frac[n]["unclassified"] = float(np.mean(labels == UNCLASSIFIED))
        frac[n]["other"] = max(0.0, 1.0 - sum(frac[n].values()))
    f5 = [frac[n]["5"] for n in ns]
    f6 = [frac[n]["6"] for n in ns]
    summary = {
        "scale": args.scale, "beta": args.beta, "seed": args.seed, "copies": args.copies,
        "wall_s": round(wall, 1), "sweeps_after_warmup": state.kept_sweeps,
        "requested_ns": list(cfg.ns), "ladder": ns, "ladder_converged": bool(diag.attrs["ladder_converged"]),
        "swap_accept": [round(float(a), 3) for a in diag["swap_accept"].values],
        "round_trips": diag["round_trips"].values.tolist(),
        "hmc_accept": [round(float(a), 3) for a in diag["hmc_accept"].values],
        "phase_fractions": {str(n): {k: round(v, 3) for k, v in frac[n].items()} for n in ns},
        "switch_n_5_to_6": switch_n(ns, f5, f6),
    }
    print(f"wall {summary['wall_s']} s, {state.kept_sweeps} sweeps after warm-up, ladder {ns}")
    print("swap accept", summary["swap_accept"])
    print("round trips per copy", summary["round_trips"])
    print("hmc accept", summary["hmc_accept"])
    for n in ns:
        print(f"  n={n:5d}  " + "  ".join(f"{k}:{v:.2f}" for k, v in frac[n].items()))
    print("5 -> 6 switch n:", summary["switch_n_5_to_6"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)
    return summary


# ----------------------------------------------------------------------------------------------
# Study throughput with 1 and 2 workers (issue 22, item 5; owner: the PT-study work).
#
#     python benchmarks/bench_pt.py study --preset quick --datasets 2 --workers 1,2
#
# Runs the same PT study (``comparisons.jobs.bayes_pt.run_pt_study``: one task per data set,
# switch refinement included) into a fresh folder once per worker count (1: in-process; more:
# a local process pool) and prints tasks per minute and the ratio to one worker, as a markdown
# table. Both rows are measured in one run, so the ratio is what the machine gave at that time.

import sys  # noqa: E402  (kept in this section so that the rest of the file is untouched)


def bench_study_throughput(argv=None) -> list[dict]:
    """Tasks per minute of a PT study with each worker count; prints a markdown table."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from comparisons.cli.bayes import pt_config
    from comparisons.jobs.bayes_pt import REFINE_ROUNDS, run_pt_study

    ap = argparse.ArgumentParser(prog="bench_pt.py study", description=bench_study_throughput.__doc__)
    ap.add_argument("--preset", default="quick", choices=("quick", "paper"))
    ap.add_argument("--datasets", type=int, default=2, help="data sets (tasks) per measurement")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--convention", default="tempered")
    ap.add_argument("--refine-rounds", type=int, default=REFINE_ROUNDS)
    ap.add_argument("--sweeps", type=int, default=None, help="override the preset's kept sweeps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    config = pt_config(args.preset, 6, seed=args.seed)
    if args.sweeps:
        config = dataclasses.replace(config, sweeps=args.sweeps)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_study_") as tmp:
        for w in (int(v) for v in args.workers.split(",")):
            kw = {"executor": "inline"} if w == 1 else {"executor": "process", "workers": w}
            t0 = time.perf_counter()
            res = run_pt_study(config, Path(tmp) / f"w{w}", datasets=args.datasets, conventions=(args.convention,),
                               population=False, progress=False, refine_rounds=args.refine_rounds, **kw)
            wall = time.perf_counter() - t0
            switches = sorted((r["dataset"], r["from"], r["to"], round(r["n"], 3)) for r in res["switches"])
            rows.append({"workers": w, "tasks": res["computed"], "wall_s": wall,
                         "tasks_per_min": 60 * res["computed"] / wall, "switches": switches})
    base = rows[0]["tasks_per_min"]
    print(f"\nPT study throughput: preset {args.preset}, {args.datasets} data sets ({args.convention}), "
          f"refinement rounds <= {args.refine_rounds}\n")
    print("| workers | tasks | wall (s) | tasks / min | ratio to 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['tasks']} | {r['wall_s']:.1f} | {r['tasks_per_min']:.2f} | "
              f"{r['tasks_per_min'] / base:.2f} |")
    same = all(r["switches"] == rows[0]["switches"] for r in rows)
    print(f"\nsame switches with every worker count: {'yes' if same else 'NO'}")
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["study"]:
    bench_study_throughput(sys.argv[2:])
    sys.exit(0)


if __name__ == "__main__":
    main()
