"""Errors raised by the ``controller`` package.

Hierarchy::

    ControllerError          any controller problem a user can cause or fix (one-line message)
    ├── TimingRejectedError       a timing change that breaks a safety rule; ``reasons`` lists each
    └── ScenarioError        a SUMO scenario that is unknown or cannot be built or run
"""

from __future__ import annotations


class ControllerError(Exception):
    """Base class for controller problems; ``str(err)`` is a one-line message for the user."""


class TimingRejectedError(ControllerError):
    """A proposed timing change that breaks at least one safety rule."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("timing change refused: " + "; ".join(reasons))
        self.reasons = reasons


class ScenarioError(ControllerError):
    """A SUMO scenario that is unknown or cannot be run."""
