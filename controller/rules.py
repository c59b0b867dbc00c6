"""Safety rules a timing plan must satisfy before it may run.

The same function serves the edge (before applying a pushed plan) and central (when an engineer
proposes one), so both sides refuse a plan for the same reasons.
"""

from __future__ import annotations

from controller.config import PhaseTimings, SignalConfig

#: Floors that no plan may go below, whatever the site file says (seconds).
MIN_GREEN_FLOOR = 5.0
YELLOW_FLOOR = 3.0


def plan_problems(proposed: SignalConfig, current: SignalConfig | None = None) -> list[str]:
    """Every reason ``proposed`` may not run; an empty list means it may.

    Pydantic validation of :class:`SignalConfig` already guarantees unique phases, known phase
    ids, conflict-free stages and ``min_green <= max_green``. This adds the safety floors and,
    when ``current`` is given, that the change keeps the intersection's structure: a timing change
    may retime phases but not add, remove or re-pair them (that is a new site file, not a tuning).
    """
    reasons: list[str] = []
    for p in proposed.phases:
        t = p.timings
        if t.min_green < MIN_GREEN_FLOOR:
            reasons.append(f"phase {p.id}: min_green {t.min_green:g} s is below the {MIN_GREEN_FLOOR:g} s floor")
        if t.yellow < YELLOW_FLOOR:
            reasons.append(f"phase {p.id}: yellow {t.yellow:g} s is below the {YELLOW_FLOOR:g} s floor")
        if _min_eff(t) > t.max_green:
            # Pydantic refuses this too, but a config built with model_copy/model_construct skips
            # validation: the envelope must never run a phase whose minimum exceeds its maximum.
            reasons.append(f"phase {p.id}: needs {_min_eff(t):g} s of green but max_green is {t.max_green:g} s")
        if t.walk > 0 and t.min_green < t.walk:
            reasons.append(f"phase {p.id}: min_green {t.min_green:g} s is shorter than walk {t.walk:g} s")
    for i, stage in enumerate(proposed.stages):
        # All greens of a stage start together (see controller.envelope), so every phase's
        # minimum must fit under every other phase's maximum or one rule would break the other.
        phases = [proposed.phase(pid) for pid in stage if pid in {p.id for p in proposed.phases}]
        if len(phases) > 1:
            longest_min = max(phases, key=lambda p: _min_eff(p.timings))
            shortest_max = min(phases, key=lambda p: p.timings.max_green)
            if _min_eff(longest_min.timings) > shortest_max.timings.max_green:
                reasons.append(
                    f"stage {i}: phase {longest_min.id} needs {_min_eff(longest_min.timings):g} s of green "
                    f"but phase {shortest_max.id} may show at most {shortest_max.timings.max_green:g} s"
                )
    if current is not None:
        if sorted(p.id for p in proposed.phases) != sorted(p.id for p in current.phases):
            reasons.append("the set of phases differs from the plan in force")
        if {frozenset(c) for c in proposed.conflicts} != {frozenset(c) for c in current.conflicts}:
            reasons.append("the conflict matrix differs from the plan in force")
        for p in proposed.phases:
            try:
                old = current.phase(p.id)
            except KeyError:
                continue
            if sorted(p.movements) != sorted(old.movements):
                reasons.append(f"phase {p.id}: served movements differ from the plan in force")
    return reasons


def _min_eff(t: PhaseTimings) -> float:
    """The shortest green a phase can show: its minimum, or its pedestrian intervals if longer."""
    return max(t.min_green, t.walk + t.ped_clearance)
