"""Replica exchange over the n-ladder of the TMS posterior: kernel cost, sweep rate, mixing.

Named sections, each a markdown table printed with the command that made it (from the
repository root)::

    python benchmarks/bench_pt.py kernel            # per-replica gradient: compiled vs numpy
    python benchmarks/bench_pt.py kernel --population --features 8   # the same on the population loss
    python benchmarks/bench_pt.py sweeps            # PT sweeps per second with either kernel (--population too)
    python benchmarks/bench_pt.py all               # both
    python benchmarks/bench_pt.py run --baseline b03e19a --pairs 1   # a whole paper run against a commit
    python benchmarks/bench_pt.py run --baseline b03e19a --pairs 1 --args "--refine-tol 0"   # the plain run
    python benchmarks/bench_pt.py run --baseline COMMIT --args "--refine-tol 0" --baseline-args "--refine-tol 0"
    python benchmarks/bench_pt.py --scale quick --beta 1.0 --seed 0      # a mixing run
    python benchmarks/bench_pt.py --scale paper --beta 0.5 --min-round-trips 50

``kernel`` and ``sweeps`` time both kernels at the paper preset's batch (8 copies x the rungs of
``tms-phases bayes --preset paper``, c = 6) in one process, one after the other, and report
ratios: absolute times on a shared machine mean little, their ratio measured side by side does.

The mixing run: ``quick`` uses the ``n`` of the ``quick`` preset of :mod:`bayes_tms.config`
(c = 6, up to 1200); ``paper`` 12 geometric rungs from 16 to 2000 (rungs are inserted by the
refinement as needed); the run continues in chunks until every copy has ``--min-round-trips``
round trips (or ``--max-sweeps``). Prints the ladder, swap acceptances, round trips, HMC
acceptance, the draw fractions per rung of the k-gon families 6, 5 (``5``, ``5+``, ...), 4, of
unclassified draws (:func:`comparisons.theory.classify`) and of the rest, and the 5 -> 6 switch
``n``: the first rung from which family 6 outweighs family 5 at every larger rung.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from bayes_tms.config import PRESETS
from bayes_tms.pt import PTConfig, pt_diagnostics, run, sample_tms_pt, to_inference_data
from bayes_tms.occupancy import family
from comparisons.theory import UNCLASSIFIED, classify, enumerate_phases
from comparisons.cost import pt_seconds, pt_sweep_seconds


def _confirm(seconds: float, what: str, yes: bool) -> None:
    """The cost estimate of a section (:func:`comparisons.cost.confirm`): printed first, and a run
    over one hour starts only with ``--yes`` (one line, exit status 2 otherwise)."""
    from comparisons.cost import confirm
    from comparisons.errors import InputError

    try:
        confirm(seconds, what, yes)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


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


# ----------------------------------------------------------------------------------------------
# sections: kernel cost and sweep rate, compiled against numpy, at the paper preset's batch

def _paper_batch(features: int = 6, copies: int = 8, seed: int = 0):
    """The paper preset's ladder, its data summary and prior-draw positions ``(copies, R, d)``."""
    from bayes_tms.pt import pt_preset_config as pt_config
    from comparisons.theory import nested_onehot_summary, sample_inputs

    config = pt_config("paper", features)
    ns = np.asarray(config.ns)
    x = sample_inputs(int(ns.max()), features, seed)
    d = config.hidden * features + features
    q = np.random.default_rng(seed).normal(0.0, config.prior_sigma, size=(copies, len(ns), d))
    return config, x, nested_onehot_summary(x, ns), q


def _time_call(fn, repeats: int, number: int) -> tuple[float, float]:
    """(best, median) seconds per call over ``repeats`` timings of ``number`` calls."""
    fn()
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        per.append((time.perf_counter() - t0) / number)
    return min(per), statistics.median(per)


def bench_kernel(argv=None) -> list[dict]:
    """Per-replica cost of the loss-and-gradient call, compiled kernel against the numpy reference.

    The numpy and the single-thread compiled calls are timed in alternating blocks, so that both
    see the same load, and the speed-up is the median over blocks of their ratio. The threaded
    compiled call (``numba.prange``; used by PT only from ``PARALLEL_MIN_BATCH`` replicas) is timed
    last, on its own: its worker threads keep spinning after a call and would slow the others.
    """
    from bayes_tms.pt_kernel import (
        PARALLEL_MIN_BATCH,
        nested_loss_grad_compiled,
        population_loss_grad_compiled,
    )
    from comparisons.theory import (
        nested_loss_grad,
        population_loss,
        population_loss_grad,
    )

    ap = argparse.ArgumentParser(prog="bench_pt.py kernel", description=bench_kernel.__doc__)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--number", type=int, default=20)
    ap.add_argument("--features", type=int, default=6)
    ap.add_argument("--population", action="store_true",
                    help="the closed-form population loss (numpy: population_loss and population_loss_grad, as "
                         "tms_target(kernel='numpy') calls them) instead of the data sets' empirical loss")
    args = ap.parse_args(argv)
    config, _, nested, q = _paper_batch(features=args.features, copies=args.copies)
    c, r = config.features, config.hidden
    W = q[..., : r * c].reshape(q.shape[:-1] + (r, c))
    b = q[..., r * c:]
    batch = q.shape[0] * q.shape[1]
    if args.population:
        def compiled(parallel):
            return population_loss_grad_compiled(W, b, parallel=parallel)

        paths = {"numpy (reference)": lambda: (population_loss(W, b), population_loss_grad(W, b)),
                 "compiled, 1 thread": lambda: compiled(False)}
    else:
        def compiled(parallel):
            return nested_loss_grad_compiled(W, b, nested, parallel=parallel)

        paths = {"numpy (reference)": lambda: nested_loss_grad(W, b, nested),
                 "compiled, 1 thread": lambda: compiled(False)}
    times: dict = {name: [] for name in paths}
    for fn in paths.values():
        fn()
    for _ in range(args.repeats):  # alternate: both paths see the same load
        for name, fn in paths.items():
            t0 = time.perf_counter()
            for _ in range(args.number):
                fn()
            times[name].append((time.perf_counter() - t0) / args.number)
    best, med = _time_call(lambda: compiled(True), args.repeats, args.number)
    ref = np.asarray(times["numpy (reference)"])
    rows = [{"path": name, "best_us": 1e6 * min(t), "median_us": 1e6 * statistics.median(t),
             "speedup": float(np.median(ref / np.asarray(t)))} for name, t in times.items()]
    rows.append({"path": f"compiled, numba threads (PT: from {PARALLEL_MIN_BATCH} replicas)", "best_us": 1e6 * best,
                 "median_us": 1e6 * med, "speedup": float(np.median(ref)) / med})
    import numba

    loss = "population" if args.population else "empirical"
    print(f"\nPer-replica {loss} loss + gradient at the paper preset's batch: {q.shape[0]} copies x {q.shape[1]} rungs "
          f"= {batch} replicas (prior draws), c = {c}, numba threads = {numba.get_num_threads()}\n")
    print("| path | per call, best (us) | per call, median (us) | per replica, median (us) | speed-up over numpy |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['path']} | {row['best_us']:.0f} | {row['median_us']:.0f} | {row['median_us'] / batch:.2f} | "
              f"{row['speedup']:.1f}x |")
    print("\n(speed-up: median over the alternating blocks of the numpy time over the path's time; the threaded "
          "row: median numpy time over its median time)")
    print(f"\ncommand: python benchmarks/bench_pt.py kernel --copies {args.copies} --repeats {args.repeats} "
          f"--number {args.number} --features {c}" + (" --population" if args.population else ""))
    return rows


def bench_sweeps(argv=None) -> list[dict]:
    """PT sweeps per second (HMC on every replica, then swaps) with each kernel, warm-up included."""
    from bayes_tms.pt import init, run, tms_target

    ap = argparse.ArgumentParser(prog="bench_pt.py sweeps", description=bench_sweeps.__doc__)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--sweeps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    ap.add_argument("--features", type=int, default=6)
    ap.add_argument("--population", action="store_true", help="the closed-form population loss")
    args = ap.parse_args(argv)
    config, x, _, q = _paper_batch(features=args.features, copies=args.copies)
    sweeps = 2 * (args.repeats * args.sweeps + 5)  # both kernels; the numpy one is the slower
    # the numpy kernel is about three times slower than the compiled one the model is fitted to
    _confirm(3 * pt_sweep_seconds(sweeps, args.copies, len(config.ns), config.leapfrog),
             f"{sweeps} PT sweeps of {args.copies} copies x {len(config.ns)} rungs", args.yes)
    rows = []
    for kernel in ("numpy", "compiled"):
        target = tms_target(config.ns, x=None if args.population else x, features=config.features,
                            hidden=config.hidden, beta=config.beta, prior_sigma=config.prior_sigma, kernel=kernel,
                            population=args.population)
        state0 = init(target, args.copies, 0, positions=q, warmup=args.sweeps // 2, leapfrog=config.leapfrog)
        run(state0, target, 5)  # compile / warm caches
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run(state0, target, args.sweeps)
            walls.append(time.perf_counter() - t0)
        rows.append({"kernel": kernel, "sweeps_per_s": args.sweeps / statistics.median(walls),
                     "best_sweeps_per_s": args.sweeps / min(walls)})
    loss = "population" if args.population else "empirical"
    print(f"\nPT sweeps per second ({loss} loss) at the paper preset's ladder: {args.copies} copies x "
          f"{len(config.ns)} rungs, "
          f"c = {config.features}, up to {config.leapfrog} leapfrog steps; {args.sweeps} sweeps "
          f"(half warm-up), median of {args.repeats}\n")
    print("| kernel | sweeps / s (median) | sweeps / s (best) | ratio to numpy (median) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['kernel']} | {row['sweeps_per_s']:.0f} | {row['best_sweeps_per_s']:.0f} | "
              f"{row['sweeps_per_s'] / rows[0]['sweeps_per_s']:.1f}x |")
    print(f"\ncommand: python benchmarks/bench_pt.py sweeps --copies {args.copies} --sweeps {args.sweeps} "
          f"--repeats {args.repeats} --features {config.features}" + (" --population" if args.population else ""))
    return rows



def _timed(cmd: list[str], cwd: str, env: dict) -> dict:
    """Wall and CPU seconds (user + system, the command's processes) of one command."""
    import resource
    import subprocess

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"error: {' '.join(cmd)} (in {cwd}) exited {proc.returncode}: {tail}")
    return {"wall_s": wall, "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)}


def bench_whole_run(argv=None) -> list[dict]:
    """A whole ``tms-phases bayes --sampler pt`` run, this tree against a baseline commit, side by side.

    The baseline's files are exported (``git archive``) into a temporary folder and both trees run
    the same command, each in a fresh process with ``PYTHONPATH`` on its tree and a fresh output
    folder, in alternating pairs (baseline, then this tree), after one untimed warm-up run of each
    at the quick preset (byte-compiled modules and numba's on-disk kernel cache warm, as for any
    second run). The speed-up is the ratio of the medians over the pairs, of wall and of CPU time.
    """
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="bench_pt.py run", description=bench_whole_run.__doc__)
    ap.add_argument("--baseline", default="b03e19a", help="commit to compare with (default: the pre-kernel main)")
    ap.add_argument("--preset", default="paper", choices=("quick", "paper"))
    ap.add_argument("--pairs", type=int, default=1, help="alternating (baseline, this tree) pairs")
    ap.add_argument("--tree", default=None, help="the tree to time against the baseline (default: this repository's)")
    ap.add_argument("--args", default="", help="extra flags for this tree's command only; '--refine-tol 0' times "
                                                "the plain run (b03e19a, without switch refinement, always runs it)")
    ap.add_argument("--baseline-args", default="", help="extra flags for the baseline's command only (e.g. "
                                                         "'--refine-tol 0' against a baseline that refines)")
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = ap.parse_args(argv)
    from comparisons.cli.bayes import pt_config

    root = Path(__file__).resolve().parents[1]
    # the baseline took about twice a plain run's time at the paper preset; the warm-ups are quick runs
    _confirm(args.pairs * 3 * pt_seconds(pt_config(args.preset, 6)) + 3 * pt_seconds(pt_config("quick", 6)),
             f"{args.pairs} pair(s) of whole {args.preset} PT runs against {args.baseline}", args.yes)
    commit = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=root, capture_output=True,
                            text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_pt_run_") as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=root, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        mine = Path(args.tree).resolve() if args.tree else root
        label = f"this tree {head}{' (modified)' if dirty else ''}" if mine == root else f"tree {mine}"
        trees = {f"baseline {commit}": base, label: mine}
        envs = {name: {**os.environ, "PYTHONPATH": str(tree)} for name, tree in trees.items()}

        def command(preset: str, out: Path, mine: bool = False) -> list[str]:
            return [sys.executable, "-m", "comparisons.cli", "bayes", "--sampler", "pt", "--preset", preset,
                    "--out", str(out), "--no-progress"] + shlex.split(args.args if mine else args.baseline_args)

        for k, (name, tree) in enumerate(trees.items()):  # warm-up: byte code, numba cache
            _timed(command("quick", Path(tmp) / f"warm{k}", k > 0), str(tree), envs[name])
        times: dict = {name: [] for name in trees}
        for pair in range(args.pairs):
            for k, (name, tree) in enumerate(trees.items()):
                load0 = os.getloadavg()[0]
                t = _timed(command(args.preset, Path(tmp) / f"run{pair}_{k}", k > 0), str(tree), envs[name])
                t["load"] = (load0 + os.getloadavg()[0]) / 2
                times[name].append(t)
                print(f"pair {pair + 1}: {name}: wall {t['wall_s']:.1f} s, CPU {t['cpu_s']:.1f} s, "
                      f"load {t['load']:.1f}", file=sys.stderr, flush=True)
    names = list(trees)
    med = {name: {key: statistics.median(t[key] for t in times[name]) for key in ("wall_s", "cpu_s", "load")}
           for name in names}
    print(f"\nA whole PT run, `tms-phases bayes --sampler pt --preset {args.preset} --out DIR --no-progress`"
          + (f" (this tree: plus `{args.args}`)" if args.args else "")
          + (f" (baseline: plus `{args.baseline_args}`)" if args.baseline_args else "")
          + f", against {commit}, {args.pairs} alternating pair(s), median ({os.cpu_count()} cores)\n")
    print("| tree | wall (s) | CPU (s) | load | wall speed-up | CPU speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        m = med[name]
        rows.append({"tree": name, **m, "wall_speedup": med[names[0]]["wall_s"] / m["wall_s"],
                     "cpu_speedup": med[names[0]]["cpu_s"] / m["cpu_s"]})
        print(f"| {name} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['load']:.1f} | "
              f"{rows[-1]['wall_speedup']:.2f}x | {rows[-1]['cpu_speedup']:.2f}x |")
    print(f"\ncommand: python benchmarks/bench_pt.py run --baseline {args.baseline} --preset {args.preset} "
          f"--pairs {args.pairs}" + (f" --tree {args.tree}" if args.tree else "")
          + (f" --args {shlex.quote(args.args)}" if args.args else "")
          + (f" --baseline-args {shlex.quote(args.baseline_args)}" if args.baseline_args else ""))
    return rows


def bench_all(argv=None) -> dict:
    """Every timing section, with its defaults (sweeps first: numba's worker threads, once started by
    the threaded kernel timing, keep spinning for a while and would slow the next section)."""
    return {"sweeps": bench_sweeps([]), "kernel": bench_kernel([])}


#: named sections: ``python benchmarks/bench_pt.py NAME [flags]``
SECTIONS = {"kernel": bench_kernel, "sweeps": bench_sweeps, "run": bench_whole_run, "all": bench_all}


# ----------------------------------------------------------------------------------------------
# the mixing run (no section name)

def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SECTIONS:
        return SECTIONS[argv[0]](argv[1:])
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
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = ap.parse_args(argv)

    c = args.features
    cfg = PTConfig(ns=_ladder(args.scale, c), features=c, beta=args.beta, seed=args.seed,
                   copies=args.copies, sweeps=args.sweeps, warmup=args.warmup,
                   leapfrog=args.leapfrog, thin=args.thin)
    chunks = max(1, -(-args.max_sweeps // args.sweeps)) if args.min_round_trips else 1
    _confirm(pt_seconds(cfg) * chunks, f"one PT run of {len(cfg.ns)} n x {args.copies} copies"
             + (f" (up to {args.max_sweeps} sweeps)" if args.min_round_trips else ""), args.yes)
    t0 = time.perf_counter()
    res = sample_tms_pt(None, cfg)
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



def bench_study_throughput(argv=None) -> list[dict]:
    """Tasks per minute of a PT study with each worker count; prints a markdown table."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from bayes_tms.pt import pt_preset_config as pt_config
    from comparisons.jobs.bayes_pt import REFINE_ROUNDS, SwitchStudyConfig, run_pt_study

    ap = argparse.ArgumentParser(prog="bench_pt.py study", description=bench_study_throughput.__doc__)
    ap.add_argument("--preset", default="quick", choices=("quick", "paper"))
    ap.add_argument("--datasets", type=int, default=2, help="data sets (tasks) per measurement")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--convention", default="tempered")
    ap.add_argument("--refine-rounds", type=int, default=REFINE_ROUNDS)
    ap.add_argument("--sweeps", type=int, default=None, help="override the preset's kept sweeps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = ap.parse_args(argv)
    config = pt_config(args.preset, 6, seed=args.seed)
    if args.sweeps:
        config = dataclasses.replace(config, sweeps=args.sweeps)
    counts = [int(v) for v in args.workers.split(",")]
    study = SwitchStudyConfig(datasets=args.datasets, conventions=(args.convention,), population=False,
                              refine_rounds=args.refine_rounds)
    _confirm(sum(pt_seconds(config, study, workers=w) for w in counts),
             f"{len(counts)} PT studies of {args.datasets} data sets", args.yes)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_study_") as tmp:
        for w in counts:
            kw = {"executor": "inline"} if w == 1 else {"executor": "process", "workers": w}
            t0 = time.perf_counter()
            res = run_pt_study(config, study, Path(tmp) / f"w{w}", progress=False, **kw)
            wall = time.perf_counter() - t0
            switches = sorted((r["dataset"], r["from"], r["to"], round(r["n"], 3)) for r in res.summary["switches"])
            rows.append({"workers": w, "tasks": res.summary["computed"], "wall_s": wall,
                         "tasks_per_min": 60 * res.summary["computed"] / wall, "switches": switches})
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
