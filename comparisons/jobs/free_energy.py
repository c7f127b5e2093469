"""The SMC free-energy job: one task per ``n`` for the sweep runner (keyed by its settings)."""

from __future__ import annotations

__all__ = ["smc_tasks", "smc_task", "validate_smc"]

from typing import Any, Iterable


from bayes_tms.cache import ModelCache
from bayes_tms.model import build_model, resolve_likelihood
from bayes_tms.smc import SMCResult, smc_log_evidence

from ..sweep import Task
from ..theory import child_sequence, sample_inputs

_TASK_MODELS = ModelCache("smc tasks")  # compiled models reused by the SMC tasks a worker runs


def smc_tasks(features: int, ns: Iterable[int], *, seed: int = 0, **kwargs: Any) -> list:
    """One :class:`comparisons.sweep.Task` per ``n``: SMC on ``sample_inputs(n, features, seed)``.

    ``kwargs`` (particles, runs, mutation_steps, beta, prior_sigma, hidden, ...) go to
    :func:`smc_log_evidence` and are part of each task's key.
    """
    return [Task(f"smc n={n}", {"features": int(features), "n": int(n), "seed": int(seed), **kwargs},
                 seed=int(seed)) for n in sorted(set(int(v) for v in ns))]


def smc_task(task) -> SMCResult:
    """Run one task of :func:`smc_tasks` (module level, so any executor can run it).

    Data ``sample_inputs(n, c, seed)`` is the first ``n`` rows of the nested stream, and run ``n``
    uses the stream ``child_sequence(seed, "bayes", "smc", n)``.
    """
    cfg = dict(task.config)
    c, n, seed = cfg.pop("features"), cfg.pop("n"), cfg.pop("seed")
    x = sample_inputs(n, c, seed)
    kind = resolve_likelihood(x, "auto")
    key = (kind, c, cfg.get("hidden", 2), cfg.get("beta", 1.0), cfg.get("prior_sigma", 1.0))
    model = _TASK_MODELS.get(key, lambda: build_model(x, hidden=key[2], beta=key[3], prior_sigma=key[4],
                                                      likelihood=kind))
    return smc_log_evidence(x, seed=child_sequence(int(seed), "bayes", "smc", int(n)), model=model, **cfg)


def validate_smc(task, result) -> None:
    """Task validator of the SMC sweep: a stored result is an :class:`SMCResult` of the task's ``n``
    with a finite ``log Z`` per run and finite final particles; raises otherwise, so the sweep
    runner never stores such a result and recomputes one found in the store (with a warning)."""
    import numpy as np

    from ..errors import InputError

    n = int(task.config["n"])
    if not isinstance(result, SMCResult) or int(result.n) != n:
        raise InputError(f"{task.name}: expected the SMC result of n = {n}, got {type(result).__name__}")
    for name in ("log_evidence", "W", "b"):
        values = np.asarray(getattr(result, name), dtype=float)
        if values.size == 0 or not np.isfinite(values).all():
            raise InputError(f"{task.name}: expected finite {name}, got NaN/inf or none")
