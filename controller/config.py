"""Signal and controller configuration: phases with NTCIP 1202 timings, conflicts, stages, algorithm.

These models form the ``signal`` and ``controller`` sections of a site's YAML file and are also
what the central API validates when an engineer proposes new timings.
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhaseTimings(_Strict):
    """Timing parameters of one phase, named as in NTCIP 1202 (all in seconds)."""

    min_green: float = Field(7.0, ge=1.0, le=120.0, description="Minimum green: the shortest green a phase may show once started.")
    passage: float = Field(2.5, ge=0.0, le=30.0, description="Passage (vehicle extension / gap) time for actuated gap-out.")
    max_green: float = Field(45.0, ge=1.0, le=300.0, description="Maximum green: the longest green a phase may show while others wait.")
    yellow: float = Field(3.0, ge=3.0, le=6.0, description="Yellow change interval.")
    red_clearance: float = Field(1.0, ge=0.0, le=6.0, description="All-red clearance after yellow.")
    walk: float = Field(0.0, ge=0.0, le=60.0, description="Pedestrian walk interval (0 when the phase has no pedestrian signal).")
    ped_clearance: float = Field(0.0, ge=0.0, le=60.0, description="Pedestrian clearance (flashing don't walk) interval.")

    @model_validator(mode="after")
    def _check(self) -> PhaseTimings:
        if self.max_green < self.min_green:
            raise ValueError(f"max_green {self.max_green} is below min_green {self.min_green}")
        if self.walk + self.ped_clearance > self.max_green:
            raise ValueError("walk + ped_clearance must fit inside max_green")
        return self


class PhaseConfig(_Strict):
    """One signal phase: the movements it serves and its timings."""

    id: int = Field(ge=1, le=16, description="Phase number (NEMA style, 1..16).")
    name: str = Field(description="Human-readable name, for example 'north-south through'.")
    movements: list[str] = Field(default_factory=list, description="Ids of the movements this phase gives right of way to.")
    approaches: list[str] = Field(default_factory=list, description="Ids of the approaches whose measures call and extend this phase.")
    timings: PhaseTimings = Field(default_factory=PhaseTimings, description="NTCIP 1202 timing parameters.")


class SignalConfig(_Strict):
    """The signal group model of an intersection."""

    phases: list[PhaseConfig] = Field(min_length=2, description="All phases of the intersection.")
    conflicts: list[tuple[int, int]] = Field(
        description="Pairs of phase ids that must never be green together (the conflict matrix)."
    )
    stages: list[list[int]] = Field(
        min_length=2,
        description="Stage list: groups of phase ids that run together, in their default order. Each stage must be conflict-free.",
    )

    @model_validator(mode="after")
    def _check(self) -> SignalConfig:
        ids = [p.id for p in self.phases]
        if len(set(ids)) != len(ids):
            raise ValueError(f"phase ids must be unique, got {ids}")
        known = set(ids)
        for a, b in self.conflicts:
            if a not in known or b not in known:
                raise ValueError(f"conflict ({a}, {b}) names an unknown phase")
            if a == b:
                raise ValueError(f"conflict ({a}, {b}) pairs a phase with itself")
        conflict_set = {frozenset(c) for c in self.conflicts}
        served: set[int] = set()
        for i, stage in enumerate(self.stages):
            if not stage:
                raise ValueError(f"stage {i} is empty")
            for pid in stage:
                if pid not in known:
                    raise ValueError(f"stage {i} names unknown phase {pid}")
            for a, b in combinations(stage, 2):
                if frozenset((a, b)) in conflict_set:
                    raise ValueError(f"stage {i} runs conflicting phases {a} and {b} together")
            served.update(stage)
        missing = known - served
        if missing:
            raise ValueError(f"phases {sorted(missing)} appear in no stage")
        return self

    def phase(self, phase_id: int) -> PhaseConfig:
        """The phase with this id; ``KeyError`` if there is none."""
        for p in self.phases:
            if p.id == phase_id:
                return p
        raise KeyError(phase_id)


Algorithm = Literal["fixed", "actuated", "max_pressure", "simpang"]


class ControllerConfig(_Strict):
    """Which control algorithm runs, its parameters and its fallback rules."""

    algorithm: Algorithm = Field("simpang", description="Control algorithm: fixed, actuated, max_pressure or simpang.")
    params: dict[str, float] = Field(default_factory=dict, description="Algorithm-specific numeric parameters (see each algorithm's docstring).")
    step_s: float = Field(1.0, gt=0.0, le=5.0, description="Decision period in seconds.")
    camera_range_m: float = Field(75.0, gt=0.0, le=500.0, description="How far up each approach the camera sees, in metres.")
    stale_after_s: float = Field(10.0, gt=0.0, description="Measures older than this make detection unhealthy and trigger the fixed-time fallback.")
    recover_after_s: float = Field(60.0, ge=0.0, description="Detection must be healthy this long before adaptive control resumes.")
    fixed_cycle_s: float | None = Field(None, gt=0.0, description="Cycle of the fixed-time fallback plan; None computes it with Webster's method.")
