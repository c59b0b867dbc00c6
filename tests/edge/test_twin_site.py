"""The twin's generated site file: it loads, it is current, and its lines point the right way."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import main
from edge.config import SiteConfig
from edge.config_loader import load_site
from tests.helpers import SITES

pytest.importorskip("libsumo", reason="the digital twin needs the bench extra (libsumo)")

SITE_FILE = SITES / "twin_fourleg.yaml"


def side(points: tuple[tuple[float, float], tuple[float, float]], p: np.ndarray) -> float:
    (x0, y0), (x1, y1) = points
    return float((x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0))


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE_FILE)


def test_committed_site_is_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "twin.yaml"
    assert main(["twin", "site", "--out", str(out)]) == 0
    assert out.read_text() == SITE_FILE.read_text(), "regenerate with: simpang twin site --out edge/sites/twin_fourleg.yaml"


def test_every_approach_and_exit_is_in_view(site: SiteConfig) -> None:
    assert {a.id for a in site.approaches} == {"north", "east", "south", "west"}
    assert all(a.stop_line and a.zone and a.queue_zone for a in site.approaches)
    assert {e.id for e in site.exits} == {"north_out", "east_out", "south_out", "west_out"}
    assert len(site.movements) == 12
    assert site.signal is not None
    assert site.controller is not None


def test_stop_lines_count_entering_vehicles_as_in(site: SiteConfig) -> None:
    """A point 5 m up the approach is on the 'out' side, a point in the junction on the 'in' side."""
    # Ground points of the calibration are metres from the junction centre: map them to pixels.
    cal = site.calibration[0]
    h = _homography(cal.ground_points, cal.image_points)
    centre = _apply(h, np.array([0.0, 0.0]))
    bearing = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}
    lines = {ln.id: ln for ln in site.lines}
    for a in site.approaches:
        assert a.stop_line is not None
        line = lines[a.stop_line]
        upstream = _apply(h, np.array(bearing[a.id], dtype=float) * 40.0)
        assert side(line.points, upstream) < 0, a.id
        assert side(line.points, centre) > 0, a.id


def test_calibration_maps_image_to_ground(site: SiteConfig) -> None:
    cal = site.calibration[0]
    assert len(cal.image_points) >= 4
    h = _homography(cal.image_points, cal.ground_points)
    for uv, g in zip(cal.image_points, cal.ground_points, strict=True):
        np.testing.assert_allclose(_apply(h, np.array(uv)), g, atol=0.05)


def _homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> np.ndarray:
    h, _ = cv2.findHomography(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    return np.asarray(h)


def _apply(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = h @ np.array([p[0], p[1], 1.0])
    return np.asarray(q[:2] / q[2])


def test_record_writes_video_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    uri = "twin:fourleg?seed=6&fps=5&size=320x180&demand=1.2"
    assert main(["twin", "record", "--out", str(out), "--source", uri, "--seconds", "2", "--skip", "40"]) == 0
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 10
    rows = [json.loads(line) for line in out.with_suffix(".truth.jsonl").read_text().splitlines()]
    assert len(rows) == 11
    assert [r["index"] for r in rows[:-1]] == list(range(10))
    assert any(r["ids"] for r in rows[:-1])
    assert all(len(r["ids"]) == len(r["xyxy"]) == len(r["class"]) for r in rows[:-1])
    assert "counts" in rows[-1]


def test_record_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["twin", "record", "--out", str(tmp_path / "x.mp4"), "--seconds", "0"]) == 1
    assert "simpang: error: --seconds must be positive" in capsys.readouterr().err
