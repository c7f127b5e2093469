"""Analyses on the engines' labelled outputs, read as data: no engine is imported here."""

from .correspondence import correspondence, correspondence_rows
from .occupancy import OCCUPANCY_COMPARE_COLUMNS, agreement, estimators_verdict, mixing_verdict

__all__ = ["OCCUPANCY_COMPARE_COLUMNS", "correspondence", "correspondence_rows", "agreement", "estimators_verdict", "mixing_verdict"]
