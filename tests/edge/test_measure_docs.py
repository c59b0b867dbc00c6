"""The examples in the measure stages' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "edge.geometry",
    "edge.track",
    "edge.track_table",
    "edge.counting",
    "edge.movement_inference",
    "edge.speed",
    "edge.pcu",
    "edge.hires",
    "edge.aggregate",
    "edge.measure",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
