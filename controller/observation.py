"""What the controller may know: only what a camera at the intersection sees.

An :class:`Observation` holds, per detection group (an approach, or a lane group of one such as
``north_right`` when the camera's zones split it), the measures the vision pipeline produces
within the camera's range (``ControllerConfig.camera_range_m``, 75 m by default):

* the standing queue, in vehicles and metres, capped by what the camera can see;
* the occupancy of the stop-line zone (0..1, a virtual presence loop);
* arrivals (vehicles entering the camera's view) by class, since the previous observation;
* departures (stop-line crossings) since the previous observation.

On an edge box these come straight from the vision pipeline's ``SiteMeasures.live()`` (per
approach ``queue_veh``, ``queue_m``, ``occupancy``, arrivals by class and stop-line crossings
since the last call): :meth:`ApproachObservation.from_live` takes those fields by name. In SUMO
they come from lane-area detectors limited to camera range (:mod:`controller.sumo`).

Nothing here knows about vehicles beyond camera range, upstream detectors, or the future.

Example:
    >>> obs = Observation(t=10.0, groups={"north": ApproachObservation(queue_veh=4, queue_m=22.0)})
    >>> obs.groups["north"].pcu_arrivals()
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models.classes import VehicleClass

#: PKJI 2023 passenger-car-unit equivalents on a protected approach (edge/config.py PcuConfig).
PCU_PROTECTED: Mapping[VehicleClass, float] = {
    VehicleClass.CAR: 1.0,
    VehicleClass.BUS: 1.3,
    VehicleClass.TRUCK: 1.3,
    VehicleClass.MOTORCYCLE: 0.15,
    VehicleClass.BICYCLE: 0.0,
    VehicleClass.PERSON: 0.0,
}


@dataclass(frozen=True, slots=True)
class ApproachObservation:
    """Camera measures of one detection group.

    Attributes:
        queue_veh: Vehicles standing in the queue within camera range.
        queue_m: Length of that queue in metres (from the stop line).
        occupancy: Share of the last interval the stop-line zone was occupied, 0..1.
        arrivals: Vehicles that entered the camera's view since the previous observation, by class.
        departures: Vehicles that crossed the stop line since the previous observation.
        view_m: How far up the approach the camera sees, when shorter than the configured range
            (a short lane, an occluded stretch); ``None`` means the full camera range.
        in_view: Vehicles in view on the approach now, queued or moving, where the camera counts
            them directly; ``None`` leaves the controller to keep the count from arrivals and
            departures (exact detectors).
    """

    queue_veh: float = 0.0
    queue_m: float = 0.0
    occupancy: float = 0.0
    arrivals: Mapping[VehicleClass, int] = field(default_factory=dict)
    departures: int = 0
    view_m: float | None = None
    in_view: float | None = None

    @property
    def arrived(self) -> int:
        """All arrivals, whatever their class."""
        return sum(self.arrivals.values())

    def pcu_arrivals(self, pcu: Mapping[VehicleClass, float] = PCU_PROTECTED) -> float:
        """Arrivals in passenger-car units."""
        return sum(pcu.get(cls, 1.0) * n for cls, n in self.arrivals.items())

    @classmethod
    def from_live(
        cls,
        queue_veh: float,
        queue_m: float | None,
        occupancy: float,
        arrivals: Mapping[str, int],
        crossings: int,
        *,
        view_m: float | None = None,
        in_view: int | None = None,
    ) -> ApproachObservation:
        """Build from the vision pipeline's live measures (arrivals keyed by class label)."""
        by_class: dict[VehicleClass, int] = {}
        for label, n in arrivals.items():
            by_class[VehicleClass.from_label(label)] = by_class.get(VehicleClass.from_label(label), 0) + int(n)
        return cls(
            queue_veh=float(queue_veh),
            queue_m=float(queue_m) if queue_m is not None else 0.0,
            occupancy=float(occupancy),
            arrivals=by_class,
            departures=int(crossings),
            view_m=view_m if view_m is not None and view_m > 0 else None,
            in_view=float(in_view) if in_view is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """All groups' measures at one moment.

    Attributes:
        t: When the measures were taken (controller clock, seconds).
        groups: Detection group id -> measures. A group the camera cannot see right now is absent.
        healthy: False when the vision pipeline reports a problem (camera down, detector stalled).
    """

    t: float
    groups: Mapping[str, ApproachObservation]
    healthy: bool = True
