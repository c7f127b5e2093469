"""Where the paper-preset reproduce estimate goes at a given c: per stage, and the switch study's
(``bayes_study``) data-set runs, population runs and refinement rounds.

The numbers are those of the cost model every command prints before it starts
(:mod:`comparisons.cost`: :func:`~comparisons.cost.pt_seconds` of the study is the sum of
``_run_seconds`` and :func:`~comparisons.cost.refine_seconds` over its runs, shared among the
workers); nothing is sampled. Each convention's line lists the refinement rounds
(:func:`comparisons.theory.ladder.refinement_rounds`: rungs per sub-ladder) for the predicted
switches (:func:`comparisons.cost.predicted_switches`).

Usage::

    PYTHONPATH=$PWD python benchmarks/study_cost_breakdown.py [C ...]   # default: 7 8
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile

from comparisons.cli import build_parser
from comparisons.cli.reproduce import plan
from comparisons.cost import STARTUP_S, predicted_switches, study_parts
from comparisons.jobs.bayes_pt import CONVENTIONS, REFINE_INSERT
from comparisons.theory.ladder import refinement_rounds


def breakdown(c: int) -> dict[str, float]:
    """Print the paper-preset estimate at ``c``; return the study's parts (seconds of wall)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = build_parser("reproduce").parse_args(["reproduce", "--preset", "paper", "-c", str(c),
                                                     "--out", tmp + "/out"])
        stages = plan(args)
    print(f"c = {c}: total {sum(p.seconds for p in stages.values()):,.0f} s")
    for name, p in stages.items():
        print(f"  stage {name:16s} {p.seconds:8,.0f} s")
    config, study = stages["bayes_study"].config
    parts = study_parts(config, study)
    for conv in study.conventions:  # what the refinement estimate assumes, per convention
        beta = CONVENTIONS.get(conv, config.beta)
        cfg = dataclasses.replace(config, beta=beta)
        switches = predicted_switches(cfg, beta)
        ladders = refinement_rounds(cfg.ns, switches, tol=study.refine_tol, max_rounds=study.refine_rounds,
                                    max_insert=REFINE_INSERT)
        print(f"    {conv:16s} beta = {beta:g}: {len(ladders)} refinement rounds of {[len(s) for s in ladders]} "
              f"rungs; predicted switches {[round(s) for s in switches]}")
    share = (stages["bayes_study"].seconds - STARTUP_S) / sum(parts.values())  # 1 / workers
    for name, seconds in parts.items():
        print(f"    {name:22s} {seconds * share:8,.0f} s")
    return {name: seconds * share for name, seconds in parts.items()}


if __name__ == "__main__":
    for c in [int(v) for v in sys.argv[1:]] or [7, 8]:
        breakdown(c)
