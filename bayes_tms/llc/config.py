"""Settings of a NUTS estimate of the local learning coefficient, and their checks.

:class:`NUTSLLCConfig` extends the settings every LLC estimate shares
(:class:`comparisons.theory.LLCSettings`) with the NUTS warm-up, step-size target and back-end.
"""

from __future__ import annotations

__all__ = ["LLC_BACKENDS", "RESTRICTS", "NUTSLLCConfig", "resolve_backend", "check_common", "check_target_accept"]

import dataclasses
from dataclasses import dataclass, field


from comparisons.errors import InputError, check_positive_float, check_positive_int
from comparisons.theory import LLCSettings
from comparisons.theory.llc_estimate import settings_field


#: accepted values of ``backend``
LLC_BACKENDS = ("auto", "pymc", "nutpie")


#: accepted values of ``restrict``
RESTRICTS = ("auto", "basin", None)


def resolve_backend(backend: str) -> str:
    if backend not in LLC_BACKENDS:
        raise InputError(f"backend: expected one of {', '.join(LLC_BACKENDS)}, got {backend!r}")
    if backend == "auto":
        from ..config import nutpie_available

        return "nutpie" if nutpie_available() else "pymc"
    if backend == "nutpie":
        from ..config import nutpie_available

        if not nutpie_available():
            raise InputError("backend: expected an installed nutpie for 'nutpie', got none")
    return backend


@dataclass(frozen=True)
class NUTSLLCConfig(LLCSettings):
    """Settings of a NUTS estimate of the LLC (:func:`nuts_llc`, :func:`loss_llc`).

    ``gamma``, ``beta``, ``chains``, ``draws`` and ``seed`` are those of every LLC estimate,
    inherited from :class:`comparisons.theory.LLCSettings` (one default, help text and check each,
    shared with SGLD's :class:`sgd_tms.LLCConfig`); ``draws`` defaults to 1000 kept draws here.
    Inheritance keeps one flat record: :meth:`to_attrs` is the shared one with the NUTS fields.

    Attributes
    ----------
    gamma, beta, chains, seed
        As in :class:`comparisons.theory.LLCSettings` (default 1, ``1 / log n``, 4, 0).
    draws : int
        Kept draws per chain (default 1000).
    warmup : int
        Warm-up (step-size and mass-matrix adaptation) steps per chain, discarded.
    target_accept : float
        NUTS step-size adaptation target, in (0, 1).
    backend : {"auto", "pymc", "nutpie"}
        ``"auto"``: nutpie when installed, else PyMC (resolved when sampling).
    fixed_nbeta : float or None
        ``n beta`` itself instead of ``beta`` (for :func:`loss_llc`, where ``n`` only labels the
        temperature); None: :meth:`nbeta` resolves ``n beta`` from ``beta``. Not both.
    """

    draws: int = settings_field("draws", default=1000)
    warmup: int = field(default=1000, metadata={"help": "NUTS warm-up steps per chain"})
    target_accept: float = field(default=0.9, metadata={"help": "NUTS step-size adaptation target"})
    backend: str = field(default="auto", metadata={"help": "NUTS back-end", "choices": LLC_BACKENDS})
    fixed_nbeta: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("warmup", self.warmup, minimum=0)
        check_target_accept(self.target_accept)
        if self.backend not in LLC_BACKENDS:
            raise InputError(f"backend: expected one of {', '.join(LLC_BACKENDS)}, got {self.backend!r}")
        if self.fixed_nbeta is not None:
            check_positive_float("nbeta", self.fixed_nbeta)
            if self.beta is not None:
                raise InputError(f"nbeta: expected either beta or nbeta, got both (beta = {self.beta!r})")

    def nbeta(self, n: int) -> float:
        """``fixed_nbeta`` when set, else ``n beta`` (:meth:`comparisons.theory.LLCSettings.nbeta`)."""
        return float(self.fixed_nbeta) if self.fixed_nbeta is not None else super().nbeta(n)

    def to_attrs(self, n: int) -> dict:
        """The shared record plus the NUTS fields; ``fixed_nbeta`` appears as ``nbeta``, with
        ``beta = nbeta / n``."""
        out = super().to_attrs(n)
        del out["fixed_nbeta"]
        if self.fixed_nbeta is not None:
            out["beta"] = out["nbeta"] / int(n)
        return out

    @classmethod
    def from_kwargs(cls, config: NUTSLLCConfig | None = None, *, nbeta: float | None = None,
                    **values) -> NUTSLLCConfig:
        """``config`` (default: the defaults) with the values given (not None) on top.

        ``nbeta`` sets ``fixed_nbeta`` (the keyword API of :func:`nuts_llc` and :func:`loss_llc`).
        """
        given = {k: v for k, v in values.items() if v is not None}
        if nbeta is not None:
            given["fixed_nbeta"] = nbeta
        return dataclasses.replace(config, **given) if config is not None else cls(**given)


def check_common(gamma, chains, draws, warmup) -> tuple[float, int, int, int]:
    """Checked ``(gamma, chains, draws, warmup)`` by the checks of :class:`NUTSLLCConfig`."""
    cfg = NUTSLLCConfig(gamma=gamma, chains=chains, draws=draws, warmup=warmup)
    return float(cfg.gamma), int(cfg.chains), int(cfg.draws), int(cfg.warmup)


def check_target_accept(v) -> float:
    v = check_positive_float("target_accept", v)
    if not v < 1:
        raise InputError(f"target_accept: expected a number in (0, 1), got {v!r}")
    return v
