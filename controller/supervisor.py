"""The supervisor: detection health, fixed-time fallback, and the envelope, for one intersection.

Each step it picks whose wish goes to the envelope:

* the adaptive policy while detection is healthy (an observation no older than
  ``stale_after_s`` that the vision pipeline marks healthy);
* the fixed-time fallback plan as soon as detection is stale or unhealthy, and until detection
  has been healthy again without a break for ``recover_after_s``.

It starts in fallback: an intersection does not run adaptive control on measures it has not seen.
A policy that raises is treated like failed detection (fallback), logged with its traceback, and
counted; the envelope keeps the signal legal whatever happens.

Example:
    >>> from controller.config import ControllerConfig
    >>> from controller.fixed import equal_split
    >>> from controller.max_pressure import MaxPressure
    >>> from controller.scenarios.fourleg import signal_config
    >>> sig = signal_config()
    >>> sup = Supervisor(sig, ControllerConfig(), MaxPressure(sig), equal_split(sig, 90.0))
    >>> sup.step(1.0).fallback
    True
"""

from __future__ import annotations

import dataclasses
import logging
import math

from controller.config import ControllerConfig, SignalConfig
from controller.envelope import Envelope, SignalState
from controller.observation import Observation
from controller.policy import ControlState, Policy
from edge.messages import HiResEvent

log = logging.getLogger(__name__)


class Supervisor:
    """Runs a policy behind the envelope, with health-driven fallback to fixed time.

    Args:
        signal: The intersection's signal config.
        config: Controller settings (``stale_after_s``, ``recover_after_s``).
        policy: The adaptive policy.
        fallback: The fixed-time plan used while detection is unhealthy.
        now: Start time (controller clock).
        epoch: Wall-clock time of ``now == 0`` for the hi-res log.
    """

    def __init__(
        self,
        signal: SignalConfig,
        config: ControllerConfig,
        policy: Policy,
        fallback: Policy,
        *,
        now: float = 0.0,
        epoch: float = 0.0,
    ) -> None:
        self.envelope = Envelope(signal, now=now, epoch=epoch)
        self.config = config
        self.policy = policy
        self.fallback = fallback
        self.adaptive = False
        self.policy_errors = 0
        self.mode_changes = 0
        self._obs: Observation | None = None
        self._healthy_since: float | None = None

    def take_events(self) -> list[HiResEvent]:
        """The hi-res events logged since the last call (oldest first); the log is emptied."""
        return self.envelope.log.drain()

    def request_timings(self, proposed: SignalConfig) -> int:
        """Validate a timing change and schedule it for the next safe boundary (see the envelope).

        Raises:
            TimingRejectedError: With every reason, when the change breaks a rule.
        """
        return self.envelope.request_timings(proposed)

    def observe(self, obs: Observation) -> None:
        """Hand in the latest camera measures (an observation with a non-finite time is ignored)."""
        if isinstance(obs, Observation) and math.isfinite(obs.t):
            self._obs = obs

    def healthy(self, now: float) -> bool:
        """Whether detection is fresh and healthy at ``now``."""
        obs = self._obs
        return obs is not None and obs.healthy and 0.0 <= now - obs.t <= self.config.stale_after_s

    def step(self, now: float) -> SignalState:
        """One decision: update the mode, ask the policy in charge, pass its wish through the envelope."""
        self._update_mode(now)
        signal = self.envelope.state
        state = ControlState(obs=self._obs if self.adaptive else None, signal=signal)
        wish: object
        if self.adaptive:
            try:
                wish = self.policy.decide(state, now)
            # A broken policy must never stop the signal: whatever it raised, fall back to fixed
            # time (the envelope stays in charge of safety) and leave the traceback in the log.
            except Exception:
                self.policy_errors += 1
                log.exception("policy %s failed; falling back to fixed time", getattr(self.policy, "name", "?"))
                self._set_adaptive(False, now)
                wish = self.fallback.decide(dataclasses.replace(state, obs=None), now)
        else:
            wish = self.fallback.decide(state, now)
        out = self.envelope.step(wish, now)
        return dataclasses.replace(out, fallback=not self.adaptive)

    def _update_mode(self, now: float) -> None:
        ok = self.healthy(now)
        if not ok:
            self._healthy_since = None
            if self.adaptive:
                log.warning("detection stale or unhealthy at t=%.1f; fixed-time fallback", now)
                self._set_adaptive(False, now)
            return
        if self._healthy_since is None:
            self._healthy_since = now
        if not self.adaptive and now - self._healthy_since >= self.config.recover_after_s:
            log.info("detection healthy for %.0f s; adaptive control resumes", now - self._healthy_since)
            self._set_adaptive(True, now)

    def _set_adaptive(self, adaptive: bool, now: float) -> None:
        if adaptive != self.adaptive:
            self.mode_changes += 1
        self.adaptive = adaptive
        if not adaptive:
            self._healthy_since = None if not self.healthy(now) else now
