"""Domain-randomised training data from the digital twin, in YOLO format.

Each *episode* is one SUMO run with its own seed, demand, lighting (a preset, jittered) and
camera (any corner of the junction, jittered pole height, distance, field of view and roll).
After a warm-up, a frame is kept every ``stride_s`` simulated seconds, so consecutive samples
show different traffic. Labels are the twin's exact boxes of vehicles at least
``min_visibility`` visible and ``min_side_px`` wide and tall.

Layout written (what Ultralytics reads)::

    OUT/images/{train,val}/e0003_f0012.jpg
    OUT/labels/{train,val}/e0003_f0012.txt     # class cx cy w h, normalised
    OUT/data.yaml                              # paths and class names
    OUT/manifest.json                          # every episode's settings, for the model card
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.twin.render import LIGHTING
from edge.twin.source import TwinOptions, TwinSource
from models.classes import VehicleClass
from models.errors import ModelError

log = logging.getLogger(__name__)

#: Classes the twin renders, in the detector's class order (equal to their VehicleClass values).
TWIN_CLASSES: tuple[VehicleClass, ...] = (
    VehicleClass.CAR,
    VehicleClass.MOTORCYCLE,
    VehicleClass.BUS,
    VehicleClass.TRUCK,
)
NAMES: dict[int, str] = {i: c.label for i, c in enumerate(TWIN_CLASSES)}


@dataclass(frozen=True, slots=True)
class Episode:
    """Settings of one simulated run used for data."""

    index: int
    seed: int
    lighting: str
    demand: float
    corner_deg: float
    pole_m: float
    distance_m: float
    hfov_deg: float
    roll_deg: float
    warmup_s: float
    split: str


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a dataset is drawn.

    Attributes:
        episodes: Number of SUMO runs.
        frames_per_episode: Images kept per run.
        stride_s: Simulated seconds between kept frames.
        seed: Master seed; episode seeds are ``seed * 1000 + i``.
        lightings: Presets to draw from (each jittered).
        demand: Range of the multiplier of the scenario's design demand.
        val_fraction: Share of episodes kept for validation (whole episodes, never frames).
        min_visibility: Label a vehicle only if this much of it is visible.
        min_side_px: Label a vehicle only if its box is at least this wide and tall.
        size: Rendered image size.
        camera_jitter: Draw a camera per episode; without it every episode uses the site camera.
        camera: ``"any"``: any corner, height, distance and lens (a model for many sites);
            ``"site"``: the site camera's pose with a mounting tolerance (a few degrees, half a
            metre), a model for one site, which is how a deployed camera is specialised.
    """

    episodes: int = 80
    frames_per_episode: int = 40
    stride_s: float = 1.5
    seed: int = 1
    lightings: tuple[str, ...] = ("day", "morning", "overcast", "dusk", "rain")
    demand: tuple[float, float] = (0.3, 1.2)
    val_fraction: float = 0.1
    min_visibility: float = 0.3
    min_side_px: float = 5.0
    size: tuple[int, int] = (640, 360)
    camera_jitter: bool = True
    camera: str = "any"
    extra: dict[str, str] = field(default_factory=dict)

    def draw_episodes(self) -> list[Episode]:
        """The episodes of this recipe (deterministic in ``seed``)."""
        rng = np.random.default_rng(self.seed)
        n_val = max(1, round(self.episodes * self.val_fraction)) if self.val_fraction > 0 else 0
        out = []
        site = TwinOptions()
        for i in range(self.episodes):
            jitter = self.camera_jitter
            pose = self._pose(rng, site) if jitter else (site.corner_deg, site.pole_m, site.distance_m, site.hfov_deg, site.roll_deg)
            out.append(
                Episode(
                    index=i,
                    seed=self.seed * 1000 + i,
                    lighting=str(rng.choice(list(self.lightings))),
                    demand=float(rng.uniform(*self.demand)),
                    corner_deg=pose[0],
                    pole_m=pose[1],
                    distance_m=pose[2],
                    hfov_deg=pose[3],
                    roll_deg=pose[4],
                    warmup_s=float(rng.uniform(45.0, 150.0)),
                    split="val" if i >= self.episodes - n_val else "train",
                )
            )
        return out

    def _pose(self, rng: np.random.Generator, site: TwinOptions) -> tuple[float, float, float, float, float]:
        """Corner bearing, pole height, distance, field of view and roll of one episode's camera."""
        if self.camera == "site":
            return (
                site.corner_deg + float(rng.uniform(-4.0, 4.0)),
                site.pole_m + float(rng.uniform(-0.6, 0.6)),
                site.distance_m + float(rng.uniform(-2.0, 2.0)),
                site.hfov_deg + float(rng.uniform(-3.0, 3.0)),
                float(rng.normal(0.0, 0.8)),
            )
        if self.camera != "any":
            raise ValueError(f"camera must be 'any' or 'site', not {self.camera!r}")
        return (
            float(rng.choice([45.0, 135.0, 225.0, 315.0]) + rng.uniform(-12, 12)),
            float(rng.uniform(7.0, 13.0)),
            float(rng.uniform(18.0, 40.0)),
            float(rng.uniform(62.0, 95.0)),
            float(rng.normal(0.0, 1.5)),
        )


def yolo_lines(xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64], size: tuple[int, int]) -> list[str]:
    """YOLO label lines (``class cx cy w h``, normalised) for boxes in pixels.

    Example:
        >>> yolo_lines(np.array([[0, 0, 64, 36]], np.float32), np.array([1]), (640, 360))
        ['1 0.050000 0.050000 0.100000 0.100000']
    """
    w, h = size
    index = {int(c): i for i, c in enumerate(TWIN_CLASSES)}
    lines = []
    for (x1, y1, x2, y2), c in zip(xyxy.tolist(), class_id.tolist(), strict=True):
        if int(c) not in index:
            continue
        cx, cy = (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h
        bw, bh = (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{index[int(c)]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return lines


def render_episode(
    episode: Episode,
    recipe: Recipe,
    sink: Callable[[npt.NDArray[np.uint8], list[str], int], None],
) -> int:
    """Run one episode and hand every kept frame and its label lines to ``sink``; returns frames kept."""
    rng = np.random.default_rng(episode.seed)
    opts = TwinOptions(
        seed=episode.seed,
        lighting=episode.lighting,
        width=recipe.size[0],
        height=recipe.size[1],
        demand=episode.demand,
        # A short horizon compresses the scenario's ramp, peak and recovery into the episode.
        duration_s=episode.warmup_s + recipe.frames_per_episode * recipe.stride_s + 60.0,
        corner_deg=episode.corner_deg,
        pole_m=episode.pole_m,
        distance_m=episode.distance_m,
        hfov_deg=episode.hfov_deg,
        roll_deg=episode.roll_deg,
        look_ahead_m=_look_ahead(rng, recipe),
    )
    light = LIGHTING[episode.lighting].jittered(rng)
    kept = 0
    with TwinSource(opts, lighting=light) as src:
        stride = max(1, round(recipe.stride_s * opts.fps))
        for _ in range(round(episode.warmup_s * opts.fps)):
            src.world.step()
        while kept < recipe.frames_per_episode:
            # Between kept frames only SUMO runs: no rendering, no movement bookkeeping.
            for _ in range(stride - 1):
                src.world.step()
            frame = src.read()
            if frame is None:
                break
            truth = src.truth.labelled(recipe.min_visibility, recipe.min_side_px)
            sink(frame.image, yolo_lines(truth.detections.xyxy, truth.detections.class_id, recipe.size), kept)
            kept += 1
    return kept


def _look_ahead(rng: np.random.Generator, recipe: Recipe) -> float:
    """Where the episode's camera aims past the centre (the site's aim, or a random one)."""
    site = TwinOptions().look_ahead_m
    if not recipe.camera_jitter:
        return site
    if recipe.camera == "site":
        return site + float(rng.uniform(-1.5, 1.5))
    return float(rng.uniform(-6.0, 12.0))


def write_dataset(out: Path, recipe: Recipe, episodes: Sequence[Episode] | None = None, jpeg_quality: int = 92) -> dict[str, int]:
    """Render ``recipe`` into ``out`` in YOLO layout; returns images written per split.

    Raises:
        ModelError: ``out`` exists and is not empty (nothing is overwritten).
    """
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"dataset folder {out} is not empty; choose a new folder")
    eps = list(episodes) if episodes is not None else recipe.draw_episodes()
    counts = {"train": 0, "val": 0}
    boxes = {"train": 0, "val": 0}
    for split in counts:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for ep in eps:

        def sink(image: npt.NDArray[np.uint8], lines: list[str], k: int, ep: Episode = ep) -> None:
            stem = f"e{ep.index:04d}_f{k:04d}"
            if not cv2.imwrite(str(out / "images" / ep.split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise ModelError(f"could not write {stem}.jpg into {out}")
            (out / "labels" / ep.split / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
            counts[ep.split] += 1
            boxes[ep.split] += len(lines)

        n = render_episode(ep, recipe, sink)
        log.info("episode %d (%s, %s, demand x%.2f): %d frames", ep.index, ep.split, ep.lighting, ep.demand, n)
    data_yaml = (
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
        + "names:\n"
        + "".join(f"  {i}: {name}\n" for i, name in NAMES.items())
    )
    (out / "data.yaml").write_text(data_yaml)
    manifest = {
        "recipe": dict(asdict(recipe).items()),
        "episodes": [asdict(e) for e in eps],
        "images": counts,
        "boxes": boxes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return counts


def held_out_recipe(seed: int = 99, episodes: int = 8, frames_per_episode: int = 30) -> Recipe:
    """Evaluation data nothing in training has seen: new seeds, the ``afternoon`` preset, heavier demand.

    The camera is the site's own pole camera (no jitter), as the twin site file uses it.
    """
    return replace(
        Recipe(),
        episodes=episodes,
        frames_per_episode=frames_per_episode,
        seed=seed,
        lightings=("afternoon",),
        demand=(1.3, 1.5),
        val_fraction=1.0,
        camera_jitter=False,
    )
