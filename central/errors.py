"""Errors raised by the ``central`` package.

Hierarchy::

    CentralError             any central-side problem a user can cause or fix (one-line message)
    ├── StoreError           the database cannot be opened or written
    │   ├── StoreConflictError    a write that clashes with what is stored (a token name taken)
    │   └── PlanStateError        a plan operation the plan's state does not allow (queue twice)
    ├── AuthError            a missing, unknown or revoked API token, or a role too weak
    └── KeyFileError         a CurveZMQ key file that is missing or malformed
"""

from __future__ import annotations


class CentralError(Exception):
    """Base class for central problems; ``str(err)`` is a one-line message for the user."""


class StoreError(CentralError):
    """The database cannot be opened or written."""


class StoreConflictError(StoreError):
    """A write that clashes with what is stored, such as a token name already in use."""


class PlanStateError(StoreError):
    """A plan operation its current state does not allow (queue a plan that is not proposed)."""


class AuthError(CentralError):
    """A missing, unknown or revoked API token, or a role too weak for the request."""


class KeyFileError(CentralError):
    """A CurveZMQ key file that is missing or malformed."""
