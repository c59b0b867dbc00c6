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
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from controller.errors import ScenarioError
from controller.scenarios import fourleg
from edge.capture import Frame
from edge.clock import Stamp
from edge.errors import SourceError
from edge.twin.camera import PinholeCamera, pole_camera
from edge.twin.render import LIGHTING, Lighting, Renderer
from edge.twin.scene import build_scene
from edge.twin.truth import FrameTruth, MovementCounter
from edge.twin.world import VTYPE_CLASS, SumoWorld, planned_counts
from models.classes import VehicleClass

log = logging.getLogger(__name__)


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
        demand: Multiplier of the scenario's design demand.
        duration_s: Horizon of the scenario's demand profile.
        corner_deg: Pole bearing from the junction centre (counter-clockwise from east).
        pole_m: Camera height.
        distance_m: Pole distance from the centre.
        hfov_deg: Horizontal field of view.
        roll_deg: Camera roll (a crooked mount).
        look_ahead_m: The camera aims this far beyond the junction centre.
        realtime: Pace reads to the wall clock.
    """

    scenario: str = "fourleg"
    seed: int = 0
    lighting: str = "day"
    fps: float = 10.0
    width: int = 640
    height: int = 360
    demand: float = 1.0
    duration_s: float = 3600.0
    corner_deg: float = 225.0
    # The default pole: 12 m high, 30 m from the centre at the south-west corner, wide lens, so
    # every stop line and exit of the 3+2-lane legs is in view.
    pole_m: float = 12.0
    distance_m: float = 30.0
    hfov_deg: float = 88.0
    roll_deg: float = 0.0
    look_ahead_m: float = -4.0
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
        if not (0.0 <= self.demand <= 5.0) or self.duration_s <= 0:
            raise SourceError("twin source: demand must be within 0..5 and duration_s > 0")
        if not 3.0 <= self.pole_m <= 30.0:
            raise SourceError(f"twin source: pole_m {self.pole_m} is outside 3..30")

    def camera(self, centre: tuple[float, float]) -> PinholeCamera:
        """The pole camera these options describe."""
        return pole_camera(
            centre,
            corner_deg=self.corner_deg,
            distance_m=self.distance_m,
            height_m=self.pole_m,
            hfov_deg=self.hfov_deg,
            size=(self.width, self.height),
            roll_deg=self.roll_deg,
            look_ahead_m=self.look_ahead_m,
        )


class TwinSource:
    """A rendered SUMO junction that reads like a camera.

    Args:
        options: What to simulate and how to film it.
        lighting: Overrides the preset named in ``options`` (domain randomisation).
        sumo_args: Extra SUMO options (for example a tripinfo output for delay measurements).

    Example:
        >>> src = TwinSource(TwinOptions.parse("twin:fourleg?seed=3&lighting=dusk"))  # doctest: +SKIP
        >>> frame = src.read(); truth = src.truth; src.close()                          # doctest: +SKIP
    """

    def __init__(
        self,
        options: TwinOptions,
        lighting: Lighting | None = None,
        sumo_args: tuple[str, ...] = (),
    ) -> None:
        options.check()
        self.options = options
        self.fps = options.fps
        self.size = (options.width, options.height)
        self._closed = False
        self._folder = Path(tempfile.mkdtemp(prefix="simpang-twin-"))
        try:
            self.scenario = fourleg.build(self._folder, seed=options.seed, duration_s=options.duration_s, demand_scale=options.demand)
            self.world = SumoWorld(
                self.scenario.net_file, self.scenario.route_file, step_s=1.0 / options.fps, seed=options.seed,
                tls_id=self.scenario.tls_id, extra_args=sumo_args,
            )
        except ScenarioError as err:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise SourceError(f"twin scenario could not be built: {err}") from err
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        centre = self.world.centre
        self.camera = options.camera(centre)
        self.renderer = Renderer(self.camera, self.world.geometry(centre), lighting or LIGHTING[options.lighting], seed=options.seed)
        self.counter = MovementCounter(self.scenario.movements)
        self.truth = FrameTruth.empty()
        self.events: list[tuple[str, str]] = []
        self._index = 0
        self._t0 = Stamp.now()
        self._classes: dict[str, VehicleClass] = {}

    def planned_counts(self) -> dict[str, dict[str, int]]:
        """Movement -> class -> vehicles, as the scenario's route file states them."""
        return planned_counts(self.scenario.route_file)

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
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> TwinSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_twin(
    uri: str, fps: float | None = None, frame_size: tuple[int, int] | None = None, sumo_args: tuple[str, ...] = ()
) -> TwinSource:
    """Open a ``twin:`` camera source; a site camera's ``fps`` and ``frame_size`` fill what the URI leaves out."""
    opts = TwinOptions.parse(uri)
    query = dict(parse_qsl(urlsplit(uri).query))
    if fps is not None and "fps" not in query:
        opts = replace(opts, fps=float(fps))
    if frame_size is not None and "size" not in query and "width" not in query and "height" not in query:
        opts = replace(opts, width=int(frame_size[0]), height=int(frame_size[1]))
    return TwinSource(opts, sumo_args=sumo_args)
