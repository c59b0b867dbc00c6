"""The actuation side: where legal signal states go, and an in-process simulated cabinet.

An :class:`Actuator` receives every :class:`~controller.envelope.SignalState` the envelope
produces and shows it: :class:`controller.sumo.SumoActuator` writes SUMO link states through
libsumo; :class:`SimulatedCabinet` keeps the displayed state in-process behind its own conflict
monitor, for tests and for running the edge runtime without a cabinet.

Mapping onto a real NTCIP 1202 controller (on paper; nothing here talks SNMP)
-------------------------------------------------------------------------------
A field controller runs its own phase timing (min/max green, yellow, red clearance, pedestrian
intervals) and its own conflict monitor (MMU), so Simpang would not send light states; it would
steer the controller's ring sequencer through the NTCIP 1202 *phase control* objects over SNMP
(``phaseControlGroupTable``, one 8-bit mask per group of eight phases):

* ``phaseControlGroupHold`` - the envelope is in a steady green and the policy wishes the same
  stage: set HOLD on the stage's phases so the controller does not gap out or advance.
* ``phaseControlGroupForceOff`` - the envelope starts a change (a wish for another stage, or the
  policy's gap-out): clear HOLD and set FORCE-OFF on the ending phases; the controller times
  yellow and red clearance itself (its ``phaseYellowChange``/``phaseRedClear`` must be at least
  the envelope's values, which :func:`controller.rules.plan_problems` checks centrally).
* ``phaseControlGroupVehCall`` - the phases of the wished stage get a vehicle call so the
  sequencer serves them next; stages the policy skips get no call.
* ``phaseControlGroupPhaseOmit`` - the phases of stages the policy wants skipped in this cycle
  are omitted (cleared again after the cycle), e.g. protected right-turn phases with no queue.
* ``phaseControlGroupPedCall`` - a pedestrian call where the site has push buttons.

The envelope keeps running on the Simpang side as the model of what the cabinet will do: its
state is compared with the controller's reported ``phaseStatusGroupGreens``/``Yellows``/``Reds``
each second, and a mismatch (or a lost SNMP session) drops the site to the controller's own
time-of-day plan by releasing every hold and call, so the cabinet's fixed-time plan is the
fallback. Timing changes (:meth:`~controller.envelope.Envelope.request_timings`) map onto
``phaseTable`` writes staged in a standby pattern and activated at the cycle boundary.

Example:
    >>> from controller.envelope import Envelope, Wish
    >>> from controller.scenarios.fourleg import signal_config
    >>> cab = SimulatedCabinet(signal_config())
    >>> env = Envelope(signal_config(), now=0.0)
    >>> for t in range(1, 5):
    ...     cab.apply(env.step(Wish(stage=0), float(t)))
    >>> cab.showing[2].value, cab.flashing
    ('green', False)
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from controller.config import SignalConfig
from controller.envelope import Light, SignalState

log = logging.getLogger(__name__)


class Actuator(Protocol):
    """Shows legal signal states: SUMO, an in-process cabinet, or (on paper) an NTCIP cabinet."""

    def apply(self, state: SignalState) -> None:
        """Show ``state`` on the street (or in the simulator)."""
        ...


class SimulatedCabinet:
    """An in-process cabinet with its own conflict monitor (as a malfunction management unit).

    It shows what it is told unless that would put two conflicting phases in green or yellow
    together; then, like an MMU, it latches into all-red flash and ignores further commands
    until :meth:`reset`. It keeps a bounded history of what it showed.

    Args:
        signal: The intersection (its conflict matrix is the monitor's programming card).
        history: How many displayed states to keep.
    """

    def __init__(self, signal: SignalConfig, history: int = 3600) -> None:
        self._conflicts = {frozenset(c) for c in signal.conflicts}
        self.showing: dict[int, Light] = {p.id: Light.RED for p in signal.phases}
        self.flashing = False
        self.history: deque[tuple[float, dict[int, Light]]] = deque(maxlen=history)

    def apply(self, state: SignalState) -> None:
        """Show ``state``, or latch into flash when it would show a conflict."""
        if self.flashing:
            return
        active = [p for p, light in state.lights.items() if light in (Light.GREEN, Light.YELLOW)]
        for i, a in enumerate(active):
            for b in active[i + 1:]:
                if frozenset((a, b)) in self._conflicts:
                    log.error("cabinet conflict monitor: phases %d and %d together at t=%.1f; flashing", a, b, state.now)
                    self.flashing = True
                    self.showing = dict.fromkeys(self.showing, Light.RED)
                    return
        self.showing = dict(state.lights)
        self.history.append((state.now, self.showing))

    def reset(self) -> None:
        """A technician's reset after a conflict (all red, monitoring again)."""
        self.flashing = False
        self.showing = dict.fromkeys(self.showing, Light.RED)
