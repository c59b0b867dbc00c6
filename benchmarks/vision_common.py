"""Shared pieces of the vision benchmarks: the highway clip, its hand count, result files."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from edge.hostinfo import machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
SITE = ROOT / "edge" / "sites" / "highway_uk.yaml"
CLIP = DATA / "highway_uk_720p.mp4"
HAND_COUNT = DATA / "highway_uk_720p.counts.json"

#: The shipped site's counting line, and which carriageway each of its directions is:
#: 'in' = moving down the image = the right carriageway (towards the camera).
LINE = "row560"
CARRIAGEWAY = {"in": "right", "out": "left"}

#: Count error target per carriageway (the issue: within 8% of the hand count).
TARGET_ERROR = 0.08


def need(path: Path) -> Path:
    """``path``, or exit with a clear message when the shared test data is absent."""
    if not path.exists():
        sys.exit(f"benchmark data {path} is absent (see ../shared/data/README.md)")
    return path


def hand_count() -> dict[str, int]:
    """Vehicles per carriageway in the hand count (``{"left": 36, "right": 36}``)."""
    data = json.loads(need(HAND_COUNT).read_text())
    return {side: int(v["vehicles"]) for side, v in data["carriageways"].items()}


def count_errors(summary: dict[str, Any]) -> dict[str, Any]:
    """Per carriageway: counted, hand count, relative error, class split; and whether all meet the target."""
    hand = hand_count()
    out: dict[str, Any] = {}
    for direction, side in CARRIAGEWAY.items():
        c = summary["counts"][LINE][direction]
        err = (c["total"] - hand[side]) / hand[side]
        out[side] = {
            "direction": direction,
            "counted": c["total"],
            "hand": hand[side],
            "error": round(err, 4),
            "by_class": c["by_class"],
        }
    out["within_target"] = all(abs(v["error"]) <= TARGET_ERROR for k, v in out.items() if k != "within_target")
    return out


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine description and a timestamp."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"benchmark": name, "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(), **payload}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
