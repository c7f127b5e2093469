"""Frozen, validated configuration of an SGD ensemble and of the LLC estimation along it.

Each parameter has one home: :class:`TrainConfig` for training, :class:`LLCConfig` for the
estimator. Both are stored (as JSON) in the ``attrs`` of the trajectory Dataset together with a
hash, and read back from there by whoever needs them.
"""

from __future__ import annotations

__all__ = ["TrainConfig", "LLCConfig", "PRESETS", "preset", "config_hash"]

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import ClassVar

from comparisons.errors import (InputError, check_field_names, check_field_types, check_positive_float,
                               check_positive_int, shown)
from comparisons.theory import LLCSettings
from comparisons.theory.llc_estimate import settings_field

_OPTIMIZERS = ("sgd", "momentum", "adam")
#: most training values (data sets x n x features) held in memory: 2**28 float64 = 2 GiB
MAX_DATA_VALUES = 2**28
#: named initialisations (see :class:`TrainConfig` ``init``); the first is the default
_INITS = ("kgon", "paper", "gaussian")


@dataclass(frozen=True)
class TrainConfig:
    """Configuration of one ensemble of SGD runs (defaults: the paper's protocol, section 5).

    Attributes
    ----------
    runs : int
        Ensemble size ``R``.
    features, hidden : int
        ``c`` and ``r`` (r = 2 for the k-gon theory).
    n : int
        Training samples per run.
    batch_size : int
        Minibatch size; each epoch visits a fresh random permutation, the last batch may be short.
    lr : float
        Learning rate.
    epochs : int
    optimizer : {"sgd", "momentum", "adam"}
    momentum : float
        Momentum coefficient (optimizer "momentum").
    betas : tuple of float
        Adam coefficients.
    init : {"kgon", "paper", "gaussian"}
        Named initialisation (:func:`sgd_tms.train.initial_parameters`).

        ``kgon`` (default): a regular ``init_k``-gon at its solved critical ``(l*, b*)`` (the
        4-gon is ``(1, 0)``; with ``init_length`` set, that length and the same ``b*``) in the
        first ``k`` columns at a uniformly random rotation, the other columns zero with bias 0,
        plus ``N(0, init_noise^2)`` on every entry of ``W`` and ``b``.

        ``paper``: the paper's start (section 5): the 4-gon of length 1 at angles ``2 pi j / 4``
        (no rotation) in the first 4 columns, the other columns zero, all biases 0, plus
        ``N(0, init_noise^2)`` on every entry. It differs from the default ``kgon`` with
        ``init_k = 4`` only by the random rotation, an exact symmetry of SGD on this model (the
        loss depends on ``W`` through ``W^T W`` and the noise is isotropic), so the two give the
        same distribution of trajectories up to rotation (different draws for a given seed).
        Needs ``init_k = 4``.

        ``gaussian``: every entry of ``W`` and ``b`` i.i.d. ``N(0, init_scale^2)``.
    init_k : int
        ``k`` of the ``kgon`` initialisation.
    init_length : float or None
        Polygon length of the ``kgon`` initialisation; None (default) is the solved ``l*``.
        Only valid with ``init = "kgon"``.
    init_noise : float
        Standard deviation of the noise of ``kgon`` and ``paper`` (default 0.01, the paper's).
    init_scale : float
        Standard deviation of ``gaussian`` (default 1: a column then has mean length
        ``sqrt(pi / 2) = 1.25``, the scale of the k-gon lengths ``l* = 1 .. 1.32`` for c = 6,
        and the biases span the range ``[-l*^2, 1/(2c)]`` where they matter).
    shared_data : bool
        One data set for all runs (drawn from the root seed) instead of one per run.
    checkpoint_every : int
        Checkpoint every this many epochs (0: none on the regular grid).
    log_checkpoints : int
        Additional checkpoints on a log-spaced grid of this many epochs in ``[1, epochs]``.
    seed : int
        Root of every random stream (``numpy.random.SeedSequence``).
    dtype : {"float32", "float64"}
    device : str
        ``"cpu"`` or ``"cuda"``.
    threads : int
        Torch intra-op threads during training (1 is fastest for tiny tensors); restored after.
    """

    runs: int = field(default=100, metadata={"help": "number of SGD runs in the ensemble", "metavar": "R"})
    features: int = field(default=6, metadata={"help": "number of features c", "metavar": "C", "aliases": ("-c",)})
    hidden: int = 2
    n: int = field(default=1000, metadata={"help": "training samples per run", "metavar": "N"})
    batch_size: int = field(default=20, metadata={"help": "minibatch size"})
    lr: float = field(default=0.005, metadata={"help": "learning rate"})
    epochs: int = field(default=4500, metadata={"help": "training epochs"})
    optimizer: str = field(default="sgd", metadata={"help": "optimiser", "choices": _OPTIMIZERS})
    momentum: float = 0.9
    betas: tuple = (0.9, 0.999)
    init: str = field(default="kgon", metadata={
        "help": "initialisation: kgon (a randomly rotated --init-k-gon + noise), paper (the 4-gon of "
                "length 1, all biases 0, + noise), gaussian (--init-scale)", "choices": _INITS})
    init_k: int = field(default=4, metadata={"help": "k of the k-gon initialisation"})
    init_length: float | None = field(default=None, metadata={
        "help": "polygon length of --init kgon", "default_text": "the critical length l*"})
    init_noise: float = field(default=0.01, metadata={"help": "std of the noise added to --init kgon and paper"})
    init_scale: float = field(default=1.0, metadata={"help": "std of the Gaussian initialisation"})
    shared_data: bool = field(default=False, metadata={
        "help": "one training set for all runs (default: one per run)"})
    checkpoint_every: int = field(default=30, metadata={"help": "checkpoint every this many epochs (0: off)"})
    log_checkpoints: int = field(default=0, metadata={
        "help": "extra checkpoints on a log grid of this many epochs"})
    seed: int = field(default=0, metadata={
        "help": "root seed of data, init, minibatch order and SGLD noise", "metavar": "S"})
    dtype: str = field(default="float64", metadata={"help": "floating point type",
                                                    "choices": ("float32", "float64")})
    device: str = field(default="cpu", metadata={"help": "'cpu' or 'cuda' (if available)"})
    threads: int = field(default=1, metadata={"help": "torch threads for training (1 is fastest on CPU)"})

    def __post_init__(self) -> None:
        check_field_types(self)
        check_positive_int("runs", self.runs)
        check_positive_int("features", self.features, minimum=2)
        check_positive_int("hidden", self.hidden)
        check_positive_int("n", self.n)
        if self.n < self.features:
            raise InputError(f"n: expected at least the number of features c = {self.features} samples, "
                             f"got {self.n}")
        sets = 1 if self.shared_data else self.runs
        if sets * self.n * self.features > MAX_DATA_VALUES:
            raise InputError(f"n: expected data sets x n x features <= {MAX_DATA_VALUES} values in memory, "
                             f"got {sets} x {self.n} x {self.features} (n = {self.n})")
        check_positive_int("batch_size", self.batch_size)
        if self.batch_size > self.n:
            raise InputError(f"batch_size: expected at most n = {self.n}, got {self.batch_size}")
        check_positive_float("lr", self.lr)
        check_positive_int("epochs", self.epochs)
        if self.optimizer not in _OPTIMIZERS:
            raise InputError(f"optimizer: expected one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum: expected 0 <= momentum < 1, got {self.momentum!r}")
        betas = self.betas if isinstance(self.betas, (tuple, list)) else None
        if betas is None or len(betas) != 2 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1 for x in betas):
            raise InputError(f"betas: expected two numbers in [0, 1) (Adam's decay rates), got {self.betas!r}")
        object.__setattr__(self, "betas", tuple(float(x) for x in betas))
        if self.init not in _INITS:
            raise InputError(f"init: expected one of {_INITS}, got {self.init!r}")
        if self.init == "kgon" and not 2 <= self.init_k <= self.features:
            raise InputError(f"init_k: expected 2 <= k <= features = {self.features}, got {self.init_k!r}")
        if self.init == "kgon" and self.hidden != 2:
            raise InputError(f"hidden: k-gon initialisation needs hidden = 2, got {self.hidden}")
        if self.init == "paper" and self.init_k != 4:
            raise InputError(f"init_k: the paper initialisation is the 4-gon, expected 4, got {self.init_k!r}")
        if self.init == "paper" and self.hidden != 2:
            raise InputError(f"hidden: the paper initialisation needs hidden = 2, got {self.hidden}")
        if self.init_length is not None:
            if self.init != "kgon":
                raise InputError(f"init_length: only for init = 'kgon', got init = {self.init!r}")
            object.__setattr__(self, "init_length", check_positive_float("init_length", self.init_length))
        check_positive_float("init_noise", self.init_noise, allow_zero=True)
        check_positive_float("init_scale", self.init_scale, allow_zero=True)
        check_positive_int("checkpoint_every", self.checkpoint_every, minimum=0)
        check_positive_int("log_checkpoints", self.log_checkpoints, minimum=0)
        check_positive_int("seed", self.seed, minimum=0)
        check_positive_int("threads", self.threads)
        if self.dtype not in ("float32", "float64"):
            raise InputError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        if not isinstance(self.device, str) or self.device.split(":")[0] not in ("cpu", "cuda"):
            raise InputError(f"device: expected 'cpu' or 'cuda', got {self.device!r}")

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n // self.batch_size)

    def checkpoint_epochs(self) -> list[int]:
        """Sorted epochs after which parameters are recorded (always including 0 = the init)."""
        import numpy as np

        epochs = {0}
        if self.checkpoint_every:
            epochs.update(range(self.checkpoint_every, self.epochs + 1, self.checkpoint_every))
        if self.log_checkpoints:
            grid = np.geomspace(1, self.epochs, self.log_checkpoints)
            epochs.update(int(round(e)) for e in grid)
        epochs.add(self.epochs)
        return sorted(epochs)

    def to_dict(self) -> dict:
        """JSON-ready fields; ``init_length`` is left out while None, so that the stored
        configuration (and :func:`config_hash`) of every earlier trajectory stays the same."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        if d["init_length"] is None:
            del d["init_length"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: (tuple(v) if k == "betas" else v) for k, v in d.items()})


@dataclass(frozen=True)
class LLCConfig(LLCSettings):
    """Localised SGLD estimator of the LLC (paper defaults, section 4-5 of the study).

    The settings every LLC estimate shares (``gamma``, ``beta``, ``chains``, ``draws``, ``seed``:
    their defaults, help texts and checks, and ``n beta``) are inherited from
    :class:`comparisons.theory.LLCSettings`, the ones NUTS-LLC
    (:class:`bayes_tms.llc.NUTSLLCConfig`) shares too; only ``draws`` has its own default here
    (500 SGLD steps, the paper's). The class stays flat (inheritance, not a nested settings
    object) so that :meth:`to_dict`, and with it :func:`config_hash` of every stored trajectory,
    is unchanged.

    Attributes
    ----------
    gamma, beta, chains, seed
        As in :class:`comparisons.theory.LLCSettings` (paper: gamma 1, ``beta* = 1 / log n``,
        4 chains per checkpoint). The seed roots the SGLD noise (its stream is
        ``child_seed(seed, "sgd", "sgld")``, keyed by run, step and chain).
    draws : int
        SGLD steps per chain (paper: 500).
    step_size : float
        SGLD step ``epsilon`` (paper: 1e-3).
    warmup : int
        Leading draws left out of the average, the SGLD warm-up (paper: none stated; default 0).
        Hashed under its earlier name ``burn_in`` (:data:`HASHED_AS`), so that every stored
        trajectory keeps its :func:`config_hash`.
    escape_fraction : float
        A chain has *escaped* when more than this share of its kept draws lies below
        ``L_n(w*)``: it found a lower-loss region, and its average is not an LLC of ``w*``.
    thin : int
        Keep every ``thin``-th draw in the recorded per-chain loss traces.
    chunk : int
        Checkpoints per run processed in one tensor program (bounds memory; 0 = all at once).
        Changes no number (the noise is keyed by run, step and chain), so it is left out of
        :func:`config_hash`.
    threads : int
        Torch intra-op threads during estimation.
    dtype : {"float32", "float64"}
        Precision of the SGLD chains (float32 is about twice as fast on CPU; the one-hot loss
        agrees with the float64 reference to ~1e-6 relative).
    """

    draws: int = settings_field("draws", default=500)
    step_size: float = field(default=1e-3, metadata={"help": "SGLD step size epsilon", "flag": "step"})
    warmup: int = field(default=0, metadata={"help": "warm-up: leading draws left out of the average"})
    escape_fraction: float = field(default=0.5, metadata={
        "help": "a chain escaped if more than this share of its draws lies below L_n(w*)"})
    thin: int = field(default=10, metadata={"help": "keep every k-th draw in the stored loss traces"})
    chunk: int = field(default=0, metadata={
        "help": "checkpoints per tensor program (0: all; lower to save memory)"})
    threads: int = field(default=1, metadata={"help": "torch threads for the LLC estimation"})
    dtype: str = field(default="float32", metadata={
        "help": "precision of the SGLD chains (float32: about 2x faster)", "choices": ("float32", "float64")})

    #: fields that change how the work is laid out but no result
    EXECUTION_FIELDS = ("chunk",)
    #: fields renamed since trajectories were first stored: name -> the name :func:`config_hash`
    #: hashes (and :meth:`from_dict` still reads), so that stored trajectories keep their hash
    HASHED_AS: ClassVar[dict[str, str]] = {"warmup": "burn_in"}

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.dtype not in ("float32", "float64"):
            raise InputError(f"llc dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        check_positive_float("llc step_size", self.step_size)
        super().__post_init__()
        check_positive_int("llc warmup", self.warmup, minimum=0)
        if self.warmup >= self.draws:
            raise InputError(f"llc warmup: expected fewer than draws = {self.draws}, got {self.warmup}")
        if not (isinstance(self.escape_fraction, (int, float)) and 0 < self.escape_fraction <= 1):
            raise InputError(f"llc escape_fraction: expected a number in (0, 1], got {self.escape_fraction!r}")
        check_positive_int("llc thin", self.thin)
        check_positive_int("llc chunk", self.chunk, minimum=0)
        check_positive_int("llc threads", self.threads)

    def to_attrs(self, n: int) -> dict:
        """The shared record (:meth:`comparisons.theory.LLCSettings.to_attrs`) plus the SGLD
        fields that change a result (``step_size``, ``warmup``, ...; not ``chunk``)."""
        return {k: v for k, v in super().to_attrs(n).items() if k not in self.EXECUTION_FIELDS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LLCConfig":
        """The config of :meth:`to_dict`, also as stored before a rename (:data:`HASHED_AS`)."""
        old = {v: k for k, v in cls.HASHED_AS.items()}
        return cls(**{old.get(k, k): v for k, v in d.items()})


#: the initialisation of the paper protocol per number of features c: the paper's 4-gon plus
#: N(0, 0.01^2) noise at c = 6 (and 4, 5, as before). At c = 7 and 8 the same 4-gon: it is a
#: critical point at every c (the other columns zero, bias 0) and SGD leaves it within the
#: paper's 4500 epochs (24 runs each: 15 of 24 step from the 4-family to the 5-family at c = 8,
#: 13 of 24 at c = 7). The alternative that keeps c = 6's distance to the c-gon, the (c - 2)-gon,
#: makes no transition at all at c = 8 (24 runs from the 6-gon, every one a single plateau 6,
#: 6+ or 6++): nothing to compare with the Bayesian sequence (docs/howto/features.md)
PROTOCOL_INIT: dict[int, dict] = {c: {"init": "kgon", "init_k": 4} for c in (4, 5, 6, 7, 8)}
#: named starting points, preset -> features -> fields (the paper's n = 1000, batch 20, lr 0.005 and
#: 4500 epochs are the TrainConfig defaults); the CLI applies explicit flags on top
PRESETS: dict[str, dict[int, dict]] = {
    "paper": {c: {**PROTOCOL_INIT[c]} for c in PROTOCOL_INIT},
    # the paper protocol on fewer runs: what `reproduce --preset quick` runs
    "quick": {c: {**PROTOCOL_INIT[c], "runs": 32} for c in PROTOCOL_INIT},
    # seconds: a smoke test
    "smoke": {c: {**PROTOCOL_INIT[c], "runs": 8, "n": 200, "epochs": 60, "checkpoint_every": 10}
              for c in PROTOCOL_INIT},
}


def preset(name: str, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` from a named preset for ``overrides["features"]`` (default 6) with
    ``overrides`` applied."""
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(f"preset: expected one of {', '.join(sorted(PRESETS))}, got {shown(name)}")
    check_field_names(TrainConfig, overrides, f"preset({name!r})")
    c = overrides.get("features")
    c = TrainConfig.features if c is None else c
    table = PRESETS[name]
    if isinstance(c, bool) or not isinstance(c, int) or c not in table:
        raise InputError(f"features: expected c in {min(table)}..{max(table)} (the presets' protocol), "
                         f"got {shown(c)}")
    return TrainConfig(**{**table[c], **{k: v for k, v in overrides.items() if v is not None}})


def config_hash(*configs) -> str:
    """Short SHA-256 of the configs' JSON (stable key order), without their execution-only fields.

    A renamed field is hashed under its earlier name (the config's ``HASHED_AS``): the hash of a
    stored trajectory does not change with a name."""
    blob = json.dumps([{getattr(c, "HASHED_AS", {}).get(k, k): v for k, v in c.to_dict().items()
                        if k not in getattr(c, "EXECUTION_FIELDS", ())} for c in configs], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

