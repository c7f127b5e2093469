"""Analyses on the engines' labelled outputs, read as data: no engine is imported here."""

from .occupancy import OCCUPANCY_COMPARE_COLUMNS, agreement, estimators_verdict, mixing_verdict

__all__ = ["OCCUPANCY_COMPARE_COLUMNS", "agreement", "estimators_verdict", "mixing_verdict"]
