"""Errors raised by the ``edge`` package.

Hierarchy::

    EdgeError                    any edge-side problem a user can cause or fix (one-line message)
    ├── ConfigError              a site file that is missing, not YAML, or fails validation
    ├── SourceError              a camera or video that cannot be opened or read
    │   └── SourceCorruptError   a video file that opens but cannot be decoded
    ├── OutputError              an output folder or file that cannot be written
    ├── SpoolError               the local message spool cannot be opened or written
    └── LinkError                the link to central cannot be set up (endpoint, keys)
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base class for edge problems; ``str(err)`` is a one-line message for the user."""


class ConfigError(EdgeError):
    """A site configuration that cannot be used.

    Attributes:
        problems: every problem found, each as ``file:line: path: message``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or [message]


class SourceError(EdgeError):
    """A frame source that cannot be opened or read."""


class SourceCorruptError(SourceError):
    """A video file that opens but whose frames cannot be decoded."""


class OutputError(EdgeError):
    """An output location that cannot be written."""


class SpoolError(EdgeError):
    """The local message spool cannot be opened or written, or belongs to another site."""


class LinkError(EdgeError):
    """The link to central cannot be set up (bad endpoint, key file or server key)."""
