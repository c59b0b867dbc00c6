"""Exact ground truth of the twin: boxes per frame and vehicle counts per movement.

:class:`FrameTruth` holds what the camera shows (projected boxes, classes, SUMO ids, how much of
each vehicle is visible). :class:`MovementCounter` counts vehicles per movement at the moment
they leave their approach edge, i.e. when they cross the stop bar into the junction, which is
the event the vision pipeline's stop-line counting measures; and again, as *completed*, when
they reach their exit edge, which is when the vision pipeline can name the movement (a turner
may wait in the junction for a minute between the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.classes import VehicleClass
from models.detections import Detections

#: A vehicle less visible than this (fraction of its silhouette in view) is marked occluded.
OCCLUDED_BELOW = 0.6


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """Ground truth of one rendered frame.

    Attributes:
        ids: SUMO vehicle ids, one per box.
        detections: Boxes (clipped to the image) and classes, confidence 1.
        visibility: ``(N,)`` fraction of each vehicle's in-image silhouette not hidden by others.
        truncation: ``(N,)`` fraction of each vehicle's silhouette outside the image.
    """

    ids: tuple[str, ...]
    detections: Detections
    visibility: npt.NDArray[np.float32]
    truncation: npt.NDArray[np.float32]

    @classmethod
    def build(
        cls,
        ids: tuple[str, ...],
        xyxy: npt.NDArray[np.float32],
        class_id: npt.NDArray[np.int64],
        visibility: npt.NDArray[np.float32],
        truncation: npt.NDArray[np.float32],
    ) -> FrameTruth:
        """Assemble and check lengths."""
        det = Detections(xyxy=xyxy, confidence=np.ones(len(ids), np.float32), class_id=class_id)
        if not len(ids) == len(det) == len(visibility) == len(truncation):
            raise ValueError("FrameTruth arrays disagree in length")
        return cls(ids, det, visibility.astype(np.float32), truncation.astype(np.float32))

    @classmethod
    def empty(cls) -> FrameTruth:
        """No vehicles in view."""
        z = np.zeros((0,), np.float32)
        return cls((), Detections(), z, z)

    @property
    def occluded(self) -> npt.NDArray[np.bool_]:
        """Which boxes are mostly hidden by nearer vehicles."""
        return self.visibility < OCCLUDED_BELOW

    def __len__(self) -> int:
        return len(self.ids)

    def labelled(self, min_visibility: float = 0.3, min_side_px: float = 4.0) -> FrameTruth:
        """The boxes a detector should find: visible enough and not tiny."""
        d = self.detections
        wh = d.xyxy[:, 2:] - d.xyxy[:, :2]
        keep = (self.visibility >= min_visibility) & (wh.min(axis=1) >= min_side_px) if len(d) else np.zeros(0, bool)
        idx = np.flatnonzero(keep)
        return FrameTruth(
            tuple(self.ids[i] for i in idx), d[keep], self.visibility[keep], self.truncation[keep]
        )


class MovementCounter:
    """Counts vehicles per movement and class as they cross the stop bar.

    Pure core: feed it, each step, every vehicle's current edge (and, for vehicles it has not
    seen, their route's first and last edge and class). It remembers only vehicles still on an
    approach edge, pruned when they cross or leave, so its state is bounded by the vehicles in
    the network.

    Args:
        movements: Movement id -> (approach edge, exit edge), as in the scenario.

    Example:
        >>> c = MovementCounter({"north_left": ("north_in", "east_out")})
        >>> c.update({"v1": "north_in"}, {"v1": ("north_in", "east_out")}, {"v1": VehicleClass.CAR})
        []
        >>> c.update({"v1": ":C_0_0"}, {}, {})
        [('v1', 'north_left')]
        >>> c.counts
        {'north_left': {'car': 1}}
        >>> c.completed
        {}
        >>> _ = c.update({"v1": "east_out"}, {}, {})
        >>> c.completed
        {'north_left': {'car': 1}}
    """

    def __init__(self, movements: dict[str, tuple[str, str]]) -> None:
        self._movement_of = {edges: mid for mid, edges in movements.items()}
        self._exit_of = {mid: exit_edge for mid, (_, exit_edge) in movements.items()}
        self._approach_edges = {a for a, _ in movements.values()}
        self._waiting: dict[str, tuple[str, VehicleClass]] = {}
        self._inside: dict[str, tuple[str, VehicleClass]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.completed: dict[str, dict[str, int]] = {}

    def update(
        self,
        roads: dict[str, str],
        routes: dict[str, tuple[str, str]],
        classes: dict[str, VehicleClass],
    ) -> list[tuple[str, str]]:
        """One step: ``roads`` maps every vehicle to its edge; ``routes``/``classes`` give new ones'.

        Returns the ``(vehicle id, movement id)`` pairs counted in this step.
        """
        events: list[tuple[str, str]] = []
        for vid, road in roads.items():
            if vid in self._inside:
                if road == self._exit_of[self._inside[vid][0]]:
                    _tally(self.completed, *self._inside.pop(vid))
            elif vid in self._waiting:
                if road in self._approach_edges:
                    continue
                movement, cls = self._waiting.pop(vid)
                _tally(self.counts, movement, cls)
                events.append((vid, movement))
                self._inside[vid] = (movement, cls)
            elif road in self._approach_edges and vid in routes:
                found = self._movement_of.get(routes[vid])
                if found is not None:
                    self._waiting[vid] = (found, classes.get(vid, VehicleClass.CAR))
        # Vehicles that vanished (arrived, teleported) without crossing are forgotten.
        for held in (self._waiting, self._inside):
            for vid in [v for v in held if v not in roads]:
                del held[vid]
        return events

    @property
    def tracked(self) -> int:
        """Vehicles on an approach, not yet counted."""
        return len(self._waiting)

    def totals(self) -> dict[str, int]:
        """Movement id -> vehicles of every class that crossed the stop bar."""
        return _sums(self.counts)

    def completed_totals(self) -> dict[str, int]:
        """Movement id -> vehicles of every class that reached their exit edge."""
        return _sums(self.completed)


def _tally(counts: dict[str, dict[str, int]], movement: str, cls: VehicleClass) -> None:
    per = counts.setdefault(movement, {})
    per[cls.label] = per.get(cls.label, 0) + 1


def _sums(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    return {m: sum(per.values()) for m, per in sorted(counts.items())}
