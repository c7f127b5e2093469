"""The one frozen configuration of a Bayesian sweep job, and its presets."""

from __future__ import annotations

__all__ = ["PosteriorSpec", "BayesConfig", "SMCConfig", "SMC_KERNELS", "BACKENDS", "PRESETS", "MAX_N", "check_features", "MIN_KEPT_DRAWS", "THEORY_MAX_FEATURES",
           "preset_config", "check_ladder"]

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from comparisons.errors import (InputError, check_field_names, check_field_types, check_positive_float,
                               check_positive_int, shown)
from comparisons.theory import OCCUPANCY_RULE, RULES

BACKENDS = ("pymc", "nutpie")
#: largest c the k-gon enumeration covers (comparisons.theory.enumerate_phases), needed to
#: classify draws when hidden = 2
THEORY_MAX_FEATURES = 8
#: largest sample size of a ladder (the data stream sample_inputs(max n, c) is held in memory)
MAX_N = 1_000_000
#: fewest kept draws per chain (NUTS) or per copy (PT) for the occupancy intervals: with fewer, a
#: chain's fraction of a phase takes a handful of values and the bootstrap over chains says little
MIN_KEPT_DRAWS = 10
#: SMC mutation kernels (see :func:`bayes_tms.smc.smc_log_evidence`)
SMC_KERNELS = ("fixed-MH", "IMH", "MH")


def check_features(features: int, hidden: int = 2, name: str = "features") -> None:
    """``features`` (and ``hidden``) that a Bayesian sampler can classify: ``2 <= c <=
    THEORY_MAX_FEATURES`` when ``hidden = 2``. Checked first, before any other setting, so that a
    bad ``c`` is what the one-line error names."""
    check_positive_int(name, features, minimum=2)
    check_positive_int("hidden", hidden)
    if hidden == 2 and features > THEORY_MAX_FEATURES:
        raise InputError(f"{name}: expected 2 <= c <= {THEORY_MAX_FEATURES} (the k-gon phases that "
                         f"classify the draws), got {features}")


def check_ladder(ns, features: int, hidden: int = 2, *, minimum_n: int | None = None, name: str = "n") -> None:
    """The cross-field rules of every Bayesian sampler's ladder and size, checked before any work.

    ``ns`` increasing, distinct, each ``>= minimum_n`` (default: the number of features, so that
    every data set has a sample per feature) and ``<= MAX_N``; ``features`` within the k-gon
    enumeration when ``hidden = 2`` (the draws are classified into its phases). One rule for
    NUTS, replica exchange and SMC, so that no sampler accepts what another refuses. ``name``:
    the field's name in the messages.
    """
    check_features(features, hidden)
    if not isinstance(ns, tuple) or not ns:
        raise InputError(f"{name}: expected a non-empty list of sample sizes, got {ns!r}")
    low = features if minimum_n is None else minimum_n
    for n in ns:
        check_positive_int(name, n)
    if len(set(ns)) != len(ns) or list(ns) != sorted(ns):
        raise InputError(f"{name}: expected increasing distinct sample sizes, got {list(ns)}")
    if max(ns) > MAX_N:
        raise InputError(f"{name}: expected sample sizes <= {MAX_N}, got {max(ns)}")
    if min(ns) < low:
        why = f"the number of features c = {features}" if minimum_n is None else str(low)
        raise InputError(f"{name}: expected sample sizes >= {why}, got {min(ns)}")


#: help text, flag and metavar of the parameters every Bayesian config shares (the fields of
#: :class:`PosteriorSpec`): one definition, so that ``--features --n --seed --beta --prior-sigma
#: --hidden --classifier --bootstrap`` read the same in every command
SHARED: dict[str, dict] = {
    "features": {"help": "number of features c", "metavar": "C", "aliases": ("-c",)},
    "hidden": {"help": "hidden dimension r", "metavar": "R"},
    "ns": {"help": "comma-separated ladder of sample sizes", "flag": "n", "metavar": "N1,N2,..."},
    "seed": {"help": "root seed of the data stream and of the sampler", "metavar": "S"},
    "beta": {"help": "inverse temperature β of exp(-n β L_n)", "metavar": "B"},
    "prior_sigma": {"help": "prior scale σ", "metavar": "SIGMA"},
    "classifier": {"help": "labelling rule of every draw: hull, the paper's rule, labels every draw; gated "
                           "labels only near an enumerated phase, else unclassified", "choices": RULES},
    "bootstrap": {"help": "bootstrap replicates over chains (copies, runs) for the occupancy intervals",
                  "metavar": "B"},
    # not a posterior field: the warm-up of NUTS (BayesConfig) and of replica exchange (PTConfig), one flag
    "warmup": {"help": "warm-up steps per chain (NUTS) or warm-up sweeps (replica exchange), step sizes adapted",
               "metavar": "W"},
}


@dataclass(frozen=True)
class PosteriorSpec:
    """The posterior every Bayesian sampler targets, and how its draws are labelled and summarised.

    ``p(W, b | D_n) ∝ N(0, prior_sigma^2) exp(-n beta L_n)`` over a ladder of nested ``n``. The
    NUTS (:class:`BayesConfig`), replica-exchange (:class:`bayes_tms.pt.PTConfig`) and SMC
    (:class:`SMCConfig`) configs extend it with their sampler's own fields; :meth:`check_posterior`
    is the one validator of the shared fields, so that no sampler accepts what another refuses.

    Attributes
    ----------
    features, hidden : int
        ``c`` and ``r``.
    ns : tuple of int
        Ladder of sample sizes, increasing and distinct; data set ``n`` is the first ``n`` rows of
        the seeded stream ``sample_inputs(max(ns), c, seed)``.
    seed : int
        Root seed ``>= 0`` of the data stream and of the sampler (seed tree
        :mod:`comparisons.theory.streams`).
    beta, prior_sigma : float
        Inverse temperature and prior scale, ``> 0``.
    classifier : {"hull", "gated"}
        Labelling rule of every draw (:func:`comparisons.theory.classify`); default
        :data:`comparisons.theory.OCCUPANCY_RULE`: ``"hull"``, the paper's rule, labels every draw;
        ``"gated"`` leaves draws far from every enumerated phase ``"unclassified"``. Applied by
        :func:`bayes_tms.sampling.label_posterior` for every sampler and recorded in the attrs of
        every posterior and occupancy output.
    bootstrap : int
        Bootstrap replicates (``>= 10``) for the occupancy intervals.
    """

    features: int = field(default=6, metadata=SHARED["features"])
    hidden: int = field(default=2, metadata=SHARED["hidden"])
    ns: tuple[int, ...] = field(default=(), metadata=SHARED["ns"])
    seed: int = field(default=0, metadata=SHARED["seed"])
    beta: float = field(default=1.0, metadata=SHARED["beta"])
    prior_sigma: float = field(default=1.0, metadata=SHARED["prior_sigma"])
    classifier: str = field(default=OCCUPANCY_RULE, metadata=SHARED["classifier"])
    bootstrap: int = field(default=1000, metadata=SHARED["bootstrap"])

    def __post_init__(self) -> None:
        self.check_posterior()

    def check_posterior(self, *, minimum_n: int | None = None, name: str = "n") -> None:
        """The one validator of the shared fields (types first, then ranges), before any work.

        ``minimum_n``, ``name``: as in :func:`check_ladder` (the sampler's smallest ``n``, and the
        ladder's name in messages).
        """
        check_field_types(self)
        check_ladder(self.ns, self.features, self.hidden, minimum_n=minimum_n, name=name)
        check_positive_int("seed", self.seed, minimum=0)
        for key in ("beta", "prior_sigma"):
            check_positive_float(key, getattr(self, key))
        if self.classifier not in RULES:
            raise InputError(f"classifier: expected one of {', '.join(RULES)}, got {self.classifier!r}")
        check_positive_int("bootstrap", self.bootstrap, minimum=10)

    def posterior_spec(self) -> "PosteriorSpec":
        """The shared fields alone (e.g. to compare the posteriors of two samplers' configs)."""
        return PosteriorSpec(**{f.name: getattr(self, f.name) for f in fields(PosteriorSpec)})

    def to_dict(self) -> dict:
        """Every field, JSON-ready (the ladder as a list)."""
        d = asdict(self)
        d.pop("extra", None)
        d["ns"] = list(self.ns)
        return d


@dataclass(frozen=True)
class BayesConfig(PosteriorSpec):
    """Everything that defines a NUTS posterior sweep; stored in the ``attrs`` of every output.

    The shared fields (``features, hidden, ns, seed, beta, prior_sigma, classifier, bootstrap``)
    are those of :class:`PosteriorSpec`; the sampler streams of ``n`` are the named children
    ``("bayes", "nuts", n, ...)`` of the seed tree (:mod:`comparisons.theory.streams`), independent
    of the rest of the ladder, so resuming or extending a ladder reproduces the same draws.

    Attributes
    ----------
    chains, draws, warmup : int
        NUTS chains per ``n`` (each initialised from the prior), kept draws and warm-up (tuning)
        steps per chain (PyMC's ``tune``).
    backend : {"pymc", "nutpie"}
    likelihood : {"auto", "dense", "onehot"}
    target_accept : float
        NUTS step-size adaptation target (higher: smaller steps, fewer divergences at the ReLU kinks).
    cores : int
        Worker processes (pymc) or threads (nutpie).
    """

    ns: tuple[int, ...] = field(default=(100, 200, 400, 600, 800, 1000), metadata=SHARED["ns"])
    chains: int = field(default=8, metadata={"help": "NUTS chains per n, each initialised from the prior",
                                             "metavar": "K"})
    draws: int = field(default=300, metadata={"help": "kept draws per chain", "metavar": "D"})
    warmup: int = field(default=300, metadata=SHARED["warmup"])
    backend: str = field(default="pymc", metadata={
        "help": "NUTS implementation: nutpie (optional extra, much faster) or pymc", "choices": BACKENDS,
        "default_text": "nutpie when installed, else pymc"})
    likelihood: str = "auto"
    target_accept: float = field(default=0.9, metadata={
        "help": "NUTS target acceptance (higher = fewer divergences)", "metavar": "A"})
    cores: int = field(default=2, metadata={"help": "parallel chains", "metavar": "K"})
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.check_posterior()
        check_positive_int("chains", self.chains)
        check_positive_int("draws", self.draws, minimum=MIN_KEPT_DRAWS)
        check_positive_int("warmup", self.warmup, minimum=0)
        check_positive_int("cores", self.cores)
        if not (0 < self.target_accept < 1):
            raise InputError(f"target_accept: expected a number in (0, 1), got {self.target_accept!r}")
        if self.backend not in BACKENDS:
            raise InputError(f"backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.likelihood not in ("auto", "dense", "onehot"):
            raise InputError(f"likelihood: expected auto, dense or onehot, got {self.likelihood!r}")

    def posterior_dict(self) -> dict:
        """The fields that determine the draws at one ``n`` (the ladder itself excluded)."""
        d = self.to_dict()
        for k in ("ns", "bootstrap", "cores"):
            d.pop(k)
        if d["classifier"] == "gated":  # the default is left out: rungs stored before the option keep their keys
            d.pop("classifier")
        return d

    @functools.cached_property
    def hash(self) -> str:
        """Short hash of :meth:`posterior_dict`: a file with the same hash holds the same draws
        (computed once per config: the job, the engine and the validator read the same value)."""
        blob = json.dumps(self.posterior_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def replace(self, **changes) -> "BayesConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class SMCConfig(PosteriorSpec):
    """Everything that defines a ladder of SMC free-energy measurements (``tms-phases free-energy``).

    The shared fields are those of :class:`PosteriorSpec` (``ns >= 2``; ``r = 2`` to label the
    final particles).

    Attributes
    ----------
    particles, runs, mutation_steps : int
        SMC particles per run (``>= 10``), independent runs per ``n`` and random-walk MH steps per
        tempering stage (:func:`bayes_tms.smc.smc_log_evidence`).
    kernel : {"fixed-MH", "IMH", "MH"}
        Mutation kernel (:data:`bayes_tms.smc.SMC_KERNELS`).
    threshold : float
        PyMC's ESS threshold in (0, 1) for the next temperature.
    cores : int
        Worker processes of one ``pm.sample_smc`` call.
    """

    particles: int = field(default=1000, metadata={"help": "SMC particles per run", "metavar": "P"})
    runs: int = field(default=2, metadata={
        "help": "independent SMC runs per n; their spread is the error bar of log Z_n", "metavar": "R"})
    mutation_steps: int = field(default=100, metadata={"help": "random-walk MH steps per tempering stage",
                                                       "metavar": "K"})
    kernel: str = "fixed-MH"
    threshold: float = 0.5
    cores: int = 1

    def __post_init__(self) -> None:
        self.check_posterior(minimum_n=2)
        check_positive_int("particles", self.particles, minimum=10)
        check_positive_int("runs", self.runs)
        check_positive_int("mutation_steps", self.mutation_steps)
        check_positive_int("cores", self.cores)
        if self.kernel not in SMC_KERNELS:
            raise InputError(f"kernel: expected one of {', '.join(SMC_KERNELS)}, got {self.kernel!r}")
        if not 0 < self.threshold < 1:
            raise InputError(f"threshold: expected a number in (0, 1), got {self.threshold!r}")


def _ladder(lo: float, hi: float, k: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.unique(np.round(np.geomspace(lo, hi, k), -1).astype(int)))


#: preset name -> features -> field values (the backend is filled in by :func:`preset_config`).
#: Every ladder reaches past the last crossing of the asymptotic dominant sequence at beta = 1/2
#: (the paper's convention, where the crossings lie furthest out: n_cr(1/2) = 2 n_cr(1)); at
#: c = 7 that is 6+ -> 7 at 15299, at c = 8 6++ -> 7+ at 8126 (``tms-phases theory --features C
#: --beta 0.5``), so their ladders end at 20000 and 10000 (tests/test_presets_per_c.py checks it).
PRESETS: dict[str, dict[int, dict]] = {
    "quick": {
        8: dict(ns=_ladder(150, 10000, 12), chains=24, draws=200, warmup=300),
        7: dict(ns=_ladder(150, 20000, 12), chains=24, draws=200, warmup=300),
        6: dict(ns=(150, 250, 350, 450, 550, 650, 750, 900, 1200), chains=24, draws=200, warmup=300),
        5: dict(ns=(100, 200, 300, 400, 500, 600), chains=24, draws=200, warmup=300),
        4: dict(ns=(100, 200, 300, 400, 500, 600), chains=24, draws=200, warmup=300),
    },
    "paper": {
        8: dict(ns=_ladder(100, 10000, 20), chains=64, draws=500, warmup=500),
        7: dict(ns=_ladder(100, 20000, 24), chains=64, draws=500, warmup=500),
        6: dict(ns=_ladder(100, 2000, 18), chains=64, draws=500, warmup=500),
        5: dict(ns=tuple(range(100, 601, 50)), chains=64, draws=500, warmup=500),
        4: dict(ns=tuple(range(100, 601, 50)), chains=64, draws=500, warmup=500),
    },
}


def preset_config(name: str, features: int = 6, **overrides) -> BayesConfig:
    """The preset ``name`` for ``features`` features, with ``overrides`` applied.

    The presets sample with nutpie when it is installed (it is ~50x faster than PyMC's own NUTS
    here), else with PyMC; an explicit ``backend`` override wins.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(f"preset: expected one of {', '.join(PRESETS)}, got {shown(name)}")
    table = PRESETS[name]
    if isinstance(features, bool) or not isinstance(features, int) or features not in table:
        raise InputError(f"features: preset {name!r} covers c in {min(table)}..{max(table)}, got {shown(features)}")
    check_field_names(BayesConfig, overrides, f"preset_config({name!r})")
    values = dict(table[features])
    values["backend"] = "nutpie" if nutpie_available() else "pymc"
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BayesConfig(features=features, **values)


def nutpie_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nutpie") is not None
