"""The control stage: live camera measures in, legal signal states out.

The pure core is :class:`ControlStage`: :meth:`observe` takes the vision pipeline's live
measures (:class:`edge.stages.LiveSnapshot`), :meth:`step` asks the controller (policy behind
the safety envelope, with its fixed-time fallback) for the signal state at ``now``. It knows
nothing of processes or sockets; the runtime calls it about once a second and sends the states
to the actuator (a twin's SUMO junction, or a cabinet adapter).

Example:
    >>> stage = ControlStage(site, now=0.0, epoch=time.time())   # doctest: +SKIP
    >>> stage.observe(snapshot)                                   # doctest: +SKIP
    >>> state = stage.step(1.0); stage.take_events()              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from controller.config import ControllerConfig
from controller.envelope import SignalState
from controller.factory import build_supervisor
from controller.observation import ApproachObservation, Observation
from edge.config import SiteConfig
from edge.messages import HiResEvent


def observation_from_live(t: float, approaches: Mapping[str, Any], healthy: bool = True) -> Observation:
    """An :class:`Observation` from :meth:`edge.measure.SiteMeasures.live` output."""
    groups = {
        aid: ApproachObservation.from_live(
            queue_veh=live.queue_veh,
            queue_m=live.queue_m,
            occupancy=live.occupancy,
            arrivals=live.arrivals,
            crossings=sum(live.stop_line_crossings.values()),
            view_m=live.view_m,
            in_view=live.in_view,
        )
        for aid, live in approaches.items()
    }
    return Observation(t=t, groups=groups, healthy=healthy)


class ControlStage:
    """The site's controller fed by camera measures.

    Args:
        site: The site; it must have ``signal`` and ``controller`` sections.
        now: Controller clock at start (seconds; the stream's monotonic clock).
        epoch: Wall-clock time corresponding to ``now`` (for hi-res event timestamps).
        config: A controller config replacing the site's (benchmarks compare algorithms).
        flows: Design flows per approach (pcu/h) for a Webster fallback plan, when known.
        saturation: Saturation flows per approach (pcu/h of green).
    """

    def __init__(
        self,
        site: SiteConfig,
        now: float,
        epoch: float,
        *,
        config: ControllerConfig | None = None,
        flows: Mapping[str, float] | None = None,
        saturation: Mapping[str, float] | None = None,
    ) -> None:
        if site.signal is None or site.controller is None:
            raise ValueError(f"site {site.site_id} has no signal/controller section")
        self.site = site
        self.supervisor = build_supervisor(
            site.signal, config or site.controller, now=now, epoch=epoch - now, flows=flows, saturation=saturation
        )
        self.state: SignalState = self.supervisor.envelope.state
        self.observations = 0

    def observe(self, t: float, approaches: Mapping[str, Any], healthy: bool = True) -> None:
        """Hand in the live measures taken at stream time ``t``."""
        self.supervisor.observe(observation_from_live(t, approaches, healthy))
        self.observations += 1

    def step(self, now: float) -> SignalState:
        """The signal state at ``now`` (always legal, whatever the inputs)."""
        self.state = self.supervisor.step(now)
        return self.state

    def take_events(self) -> list[HiResEvent]:
        """Hi-res signal events logged since the previous call."""
        events: list[HiResEvent] = self.supervisor.take_events()
        return events

    @property
    def mode(self) -> Literal["adaptive", "fallback"]:
        """``adaptive`` or ``fallback``."""
        return "adaptive" if self.supervisor.adaptive else "fallback"
