"""Follow one ``BayesConfig`` through the NUTS job and count how often its path changes file.

Runs a tiny NUTS job (:func:`comparisons.jobs.bayes.run_bayes`: c = 4, two rungs, two chains of
15 draws) under :func:`sys.settrace` and records every call of a function of this repository
whose local variables hold a ``BayesConfig``: the job's, and the one each rung rebuilds from its
task (``--identity``: the job's object alone). It prints the sequence of source files entered
(consecutive calls in one file merged into one pass), the number of file changes ("passes
through files", the measure of issue 19: 26 there, 16 of them returns) and how many of those
changes return to a file already left.

Usage::

    PYTHONPATH=$PWD python benchmarks/trace_config.py [--identity] [--calls]

``--calls`` lists every recorded call (file:function) as well. Takes about a minute (the first
rung compiles the model).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(str(ROOT / p) for p in ("bayes_tms", "comparisons", "sgd_tms"))


def trace_job(identity: bool = False) -> list[tuple[str, str]]:
    """``(file relative to the repository, function)`` of every call that holds the config."""
    from bayes_tms.config import BayesConfig
    from comparisons.jobs.bayes import run_bayes

    config = BayesConfig(features=4, ns=(40, 80), chains=2, draws=15, warmup=15, cores=1, bootstrap=50)
    calls: list[tuple[str, str]] = []

    def holds(value) -> bool:
        return value is config if identity else isinstance(value, BayesConfig)

    def tracer(frame, event, arg):  # returns None: no local (line) tracing, calls only
        if event == "call":
            path = frame.f_code.co_filename
            if path.startswith(PACKAGES) and any(holds(v) for v in frame.f_locals.values()):
                calls.append((str(Path(path).relative_to(ROOT)), frame.f_code.co_name))

    with tempfile.TemporaryDirectory() as out:
        sys.settrace(tracer)
        try:
            run_bayes(config, Path(out) / "job", progress=False)
        finally:
            sys.settrace(None)
    return calls


def passes(calls: list[tuple[str, str]]) -> tuple[list[str], int, int]:
    """The files in order of entry (consecutive repeats merged), the changes and the returns."""
    seq: list[str] = []
    for path, _ in calls:
        if not seq or seq[-1] != path:
            seq.append(path)
    returns = sum(path in seq[:i] for i, path in enumerate(seq))
    return seq, len(seq) - 1, returns


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identity", action="store_true", help="follow the job's BayesConfig object alone")
    ap.add_argument("--calls", action="store_true", help="list every recorded call")
    args = ap.parse_args(argv)
    calls = trace_job(identity=args.identity)
    seq, changes, returns = passes(calls)
    if args.calls:
        for path, name in calls:
            print(f"  {path}:{name}")
    print("files entered, in order:")
    for i, path in enumerate(seq, 1):
        print(f"{i:3d}  {path}")
    print(f"passes through files: {len(seq)}; file changes: {changes}; returns to a file already left: "
          f"{returns}; calls holding the config: {len(calls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
