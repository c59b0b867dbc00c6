"""Errors raised by the ``central`` package.

Hierarchy::

    CentralError             any central-side problem a user can cause or fix (one-line message)
    ├── StoreError           the database cannot be opened or written
    └── KeyFileError         a CurveZMQ key file that is missing or malformed
"""

from __future__ import annotations


class CentralError(Exception):
    """Base class for central problems; ``str(err)`` is a one-line message for the user."""


class StoreError(CentralError):
    """The database cannot be opened or written."""


class KeyFileError(CentralError):
    """A CurveZMQ key file that is missing or malformed."""
