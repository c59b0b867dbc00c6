"""Errors raised by the ``models`` package.

Hierarchy::

    ModelError                  any problem with a detector model (user-facing message)
    ├── ModelLoadError          the file is missing, unreadable or not a valid ONNX graph
    ├── UnsupportedModelError   inputs/outputs fit no adapter; the message says what was found
    └── UnknownModelError       a model name or family that Simpang does not know
"""

from __future__ import annotations


class ModelError(Exception):
    """Base class for model problems; ``str(err)`` is a one-line message for the user."""


class ModelLoadError(ModelError):
    """The model file is missing, unreadable or not a valid ONNX graph."""


class UnsupportedModelError(ModelError):
    """The model's inputs or outputs fit none of Simpang's adapters."""


class UnknownModelError(ModelError):
    """A model name or family that Simpang does not know."""
