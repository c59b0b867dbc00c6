"""Test helpers: paths to the real test data beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
SITES = ROOT / "edge" / "sites"


def shared_file(name: str) -> Path:
    """A file from ../shared/data, or skip the test saying clearly that it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"test data {path} is absent (see ../shared/data/README.md)")
    return path
