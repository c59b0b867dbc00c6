"""The twin as a frame source: ``twin:fourleg?seed=3&lighting=dusk`` in a site's camera ``source``.

Each :meth:`TwinSource.read` advances SUMO one step (``1 / fps`` seconds of simulated time),
renders the frame and updates the ground truth. Stamps are simulated time, so the pipeline
measures the world's clock, not the speed of the machine; with ``realtime=1`` reads are paced to
the wall clock like a live camera. The running SUMO is exposed (:attr:`TwinSource.world`:
``world.traci`` is the libsumo module and ``world.tls_id`` the signal) so the controller's SUMO
actuator can drive the signals the camera is watching: a closed software-in-the-loop test.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import numpy.typing as npt

from edge.clock import Stamp
from edge.errors import SourceError
from edge.twin.camera import PinholeCamera, pole_camera
from edge.twin.render import LIGHTING, Lighting, Renderer
from edge.twin.scene import build_scene
from edge.twin.truth import FrameTruth, MovementCounter
from edge.twin.world import (
    LEGS,
    VTYPE_CLASS,
    Demand,
    FourLegSpec,
    PlannedVehicle,
    SumoWorld,
    build_fourleg,
    count_planned,
    in_edge,
    movement_id,
    out_edge,
    plan_vehicles,
    turn_of,
    write_routes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera image (the frame-source contract shared with :mod:`edge.capture`)."""

    image: npt.NDArray[np.uint8]
    index: int
    stamp: Stamp


@dataclass(frozen=True, slots=True)
class TwinOptions:
    """Everything a ``twin:`` URI can set.

    Attributes:
        scenario: Scenario name (only ``fourleg`` exists).
        seed: Seeds demand, SUMO and the scenery.
        lighting: A preset of :data:`edge.twin.render.LIGHTING`.
        fps: Frames (simulation steps) per simulated second.
        width: Image width.
        height: Image height.
        demand_vph: Total demand over the four approaches, vehicles per hour.
        duration_s: Vehicles depart during the first ``duration_s`` seconds.
        corner_deg: Pole bearing from the junction centre (counter-clockwise from east).
        pole_m: Camera height.
        distance_m: Pole distance from the centre.
        hfov_deg: Horizontal field of view.
        realtime: Pace reads to the wall clock.
    """

    scenario: str = "fourleg"
    seed: int = 0
    lighting: str = "day"
    fps: float = 10.0
    width: int = 640
    height: int = 360
    demand_vph: float = 2400.0
    duration_s: float = 3600.0
    corner_deg: float = 225.0
    pole_m: float = 9.0
    distance_m: float = 24.0
    hfov_deg: float = 78.0
    realtime: bool = False

    @classmethod
    def parse(cls, uri: str) -> TwinOptions:
        """Parse ``twin:fourleg?seed=3&lighting=dusk``; raises :class:`SourceError` on bad input."""
        parts = urlsplit(uri)
        if parts.scheme != "twin":
            raise SourceError(f"not a twin source: {uri!r} (expected twin:fourleg?seed=N&lighting=NAME)")
        scenario = (parts.path or parts.netloc or "fourleg").strip("/")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {"scenario": scenario}
        for key, raw in parse_qsl(parts.query, keep_blank_values=True):
            if key == "size":
                try:
                    w, h = (int(x) for x in raw.lower().split("x"))
                except ValueError:
                    raise SourceError(f"twin source: size must look like 640x360, got {raw!r}") from None
                values["width"], values["height"] = w, h
                continue
            if key not in known or key == "scenario":
                raise SourceError(f"twin source: unknown option {key!r} (known: size, {', '.join(sorted(k for k in known if k != 'scenario'))})")
            kind = known[key].type
            try:
                if kind in (bool, "bool"):
                    values[key] = raw.lower() in ("1", "true", "yes", "on")
                elif kind in (int, "int"):
                    values[key] = int(raw)
                elif kind in (float, "float"):
                    values[key] = float(raw)
                else:
                    values[key] = raw
            except ValueError:
                raise SourceError(f"twin source: option {key}={raw!r} is not a valid {kind}") from None
        opts = cls(**values)  # type: ignore[arg-type]
        opts.check()
        return opts

    def check(self) -> None:
        """Raise :class:`SourceError` on values the twin cannot render."""
        if self.scenario != "fourleg":
            raise SourceError(f"twin source: unknown scenario {self.scenario!r} (known: fourleg)")
        if self.lighting not in LIGHTING:
            raise SourceError(f"twin source: unknown lighting {self.lighting!r} (known: {', '.join(LIGHTING)})")
        if not 1.0 <= self.fps <= 60.0:
            raise SourceError(f"twin source: fps {self.fps} is outside 1..60")
        if not (32 <= self.width <= 4096 and 32 <= self.height <= 4096):
            raise SourceError(f"twin source: size {self.width}x{self.height} is outside 32..4096")
        if self.demand_vph < 0 or self.duration_s <= 0:
            raise SourceError("twin source: demand_vph must be >= 0 and duration_s > 0")
        if not 3.0 <= self.pole_m <= 30.0:
            raise SourceError(f"twin source: pole_m {self.pole_m} is outside 3..30")

    def camera(self, centre: tuple[float, float] = (0.0, 0.0)) -> PinholeCamera:
        """The pole camera these options describe."""
        return pole_camera(
            centre,
            corner_deg=self.corner_deg,
            distance_m=self.distance_m,
            height_m=self.pole_m,
            hfov_deg=self.hfov_deg,
            size=(self.width, self.height),
        )


def fourleg_counter(spec: FourLegSpec | None = None) -> MovementCounter:
    """A :class:`MovementCounter` for the generated four-leg junction."""
    del spec
    approaches = {in_edge(leg): leg for leg in LEGS}
    exits = {out_edge(leg): leg for leg in LEGS}
    movements = {(a, e): movement_id(a, e) for a in LEGS for e in LEGS if turn_of(a, e) != "u_turn"}
    return MovementCounter(approaches, exits, movements)


@dataclass
class _Files:
    folder: Path
    net: Path
    routes: Path
    planned: list[PlannedVehicle] = field(default_factory=list)


class TwinSource:
    """A rendered SUMO junction that reads like a camera.

    Args:
        options: What to simulate and how to film it.
        lighting: Overrides the preset named in ``options`` (domain randomisation).
        camera: Overrides the pole camera from ``options`` (camera jitter).
        demand: Overrides the uniform demand from ``options``.

    Example:
        >>> src = TwinSource(TwinOptions.parse("twin:fourleg?seed=3&lighting=dusk"))  # doctest: +SKIP
        >>> frame = src.read(); truth = src.truth; src.close()                          # doctest: +SKIP
    """

    def __init__(
        self,
        options: TwinOptions,
        lighting: Lighting | None = None,
        camera: PinholeCamera | None = None,
        demand: Demand | None = None,
    ) -> None:
        options.check()
        self.options = options
        self.fps = options.fps
        self.size = (options.width, options.height)
        spec = FourLegSpec()
        folder = Path(tempfile.mkdtemp(prefix="simpang-twin-"))
        try:
            net = build_fourleg(folder, spec)
            dem = demand or Demand.uniform(options.demand_vph, options.duration_s)
            planned = plan_vehicles(dem, options.seed)
            routes = write_routes(folder / "fourleg.rou.xml", planned)
            self.world = SumoWorld(net, routes, step_s=1.0 / options.fps, seed=options.seed, tls_id=spec.tls_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._files = _Files(folder, net, routes, planned)
        self.camera = camera or options.camera(spec.centre)
        if self.camera.size != self.size:
            raise SourceError(f"twin camera size {self.camera.size} differs from the source size {self.size}")
        self.renderer = Renderer(self.camera, self.world.geometry(spec.centre), lighting or LIGHTING[options.lighting], seed=options.seed)
        self.counter = fourleg_counter(spec)
        self.truth = FrameTruth.empty()
        self.events: list[tuple[str, str]] = []
        self._index = 0
        self._t0 = Stamp.now()
        self._classes: dict[str, object] = {}
        self._closed = False

    @property
    def planned_counts(self) -> dict[str, dict[str, int]]:
        """Movement -> class -> vehicles, as written in the route file."""
        return count_planned(self._files.planned)

    @property
    def route_file(self) -> Path:
        """The SUMO route file of this run (removed on :meth:`close`)."""
        return self._files.routes

    @property
    def net_file(self) -> Path:
        """The SUMO network file of this run (removed on :meth:`close`)."""
        return self._files.net

    def step(self) -> bool:
        """Advance SUMO one step and update the movement counts; ``False`` once the demand has run out."""
        if self._closed:
            raise SourceError("twin source is closed")
        if self.world.pending() == 0:
            return False
        self.world.step()
        roads = self.world.road_ids()
        new = [v for v in roads if v not in self._classes]
        routes = {v: self.world.route_ends(v) for v in new}
        classes = {v: VTYPE_CLASS.get(self.world.traci.vehicle.getTypeID(v), VTYPE_CLASS["car"]) for v in new}
        self._classes.update(classes)
        for v in self.world.arrived():
            self._classes.pop(v, None)
        self.events = self.counter.update(roads, routes, classes)
        return True

    def read(self) -> Frame | None:
        """The next frame, or ``None`` when every planned vehicle has left the network."""
        if not self.step():
            return None
        image, self.truth = self.renderer.render(build_scene(self.world.vehicles()))
        sim_t = self.world.time_s
        if self.options.realtime:
            lag = self._t0.mono + sim_t - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        frame = Frame(image=image, index=self._index, stamp=self._t0.shifted(sim_t))
        self._index += 1
        return frame

    def close(self) -> None:
        """Stop SUMO and remove the generated files (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.world.close()
        finally:
            shutil.rmtree(self._files.folder, ignore_errors=True)

    def __enter__(self) -> TwinSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_twin(uri: str) -> TwinSource:
    """Open a ``twin:`` camera source."""
    return TwinSource(TwinOptions.parse(uri))
