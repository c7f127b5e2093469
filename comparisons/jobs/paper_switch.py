"""Where the paper puts its 5 -> 6 switch, and the mark both Bayesian jobs draw for it.

Shared by the NUTS job (:mod:`comparisons.jobs.bayes`) and the replica-exchange job
(:mod:`comparisons.jobs.bayes_pt`), so that every occupancy figure and the switch figure carry
the same mark.
"""

from __future__ import annotations

__all__ = ["PAPER_FEATURES", "PAPER_SWITCH", "PAPER_SWITCH_LABEL", "mark_paper_switch", "paper_switch_n"]

from ..theory import crossings, enumerate_phases

#: the change of the dominant phase the paper reports, which it places near the asymptotic
#: free-energy crossing of the two phases (computed, never typed in: :func:`paper_switch_n`)
PAPER_SWITCH = ("5", "6")
#: the number of features of the paper's switch
PAPER_FEATURES = 6
PAPER_SWITCH_LABEL = "paper: switch near the asymptotic crossing"


def paper_switch_n(features: int, prior_sigma: float = 1.0) -> float | None:
    """Where the paper reports its switch: the asymptotic crossing of the :data:`PAPER_SWITCH` phases.

    The paper places the 5 -> 6 change of the dominant phase near the crossing of the asymptotic
    free energies ``F_n = n L + lambda log n + |w*|^2 / 2`` at ``beta = 1``, in its own likelihood
    convention too, so this is the same ``n`` for every convention. None where ``c`` has no such
    pair of phases or they do not cross, and at every c but the paper's (:data:`PAPER_FEATURES`):
    at c = 7 and 8 the phases 5 and 6 exist too, but the paper reported no switch there.
    """
    if features != PAPER_FEATURES:
        return None
    pair = [p for p in enumerate_phases(features) if p.label in PAPER_SWITCH]
    if len(pair) != 2:
        return None
    hits = [e["n"] for e in crossings(pair, n_max=1e6, prior_sigma=prior_sigma, beta=1.0)
            if (e["from"], e["to"]) == PAPER_SWITCH]
    return float(hits[0]) if hits else None


def mark_paper_switch(ax, n: float | None, *, label: bool = True, text: bool = False) -> None:
    """Mark the paper's reported switch (:func:`paper_switch_n`) on an axis whose x is ``n``.

    A broad translucent vertical line at ``n`` (labelled :data:`PAPER_SWITCH_LABEL` for a
    legend when ``label``, and named ``paper a→b`` above the axes, clear of the data, when
    ``text``); nothing when ``n`` is None.
    """
    if n is None:
        return
    ax.axvline(n, color="C4", lw=6, alpha=0.25, zorder=0, label=PAPER_SWITCH_LABEL if label else None)
    if text:  # shifted left of the line, so that a crossing label centred on the same n stays legible
        from matplotlib.transforms import ScaledTranslation

        shift = ScaledTranslation(-6 / 72, 0, ax.figure.dpi_scale_trans)
        ax.text(n, 1.01, "paper {}→{}".format(*PAPER_SWITCH), rotation=90, va="bottom", ha="right", fontsize=7,
                color="C4", transform=ax.get_xaxis_transform() + shift)
