"""One call that builds an intersection's controller from its site configuration.

:func:`build_supervisor` picks the policy named by ``ControllerConfig.algorithm`` with its
``params`` and the fixed-time fallback plan, and returns the :class:`Supervisor` that runs them
behind the safety envelope. Parameters per algorithm (all optional):

* ``fixed``: ``cycle_scale`` (multiplier on Webster's cycle).
* ``actuated``: none (passage, minimum and maximum greens come from the phase timings).
* ``max_pressure``: ``hysteresis`` (vehicles), ``starve_after_s``.
* ``simpang``: ``horizon_s``, ``dt``, ``startup_loss_s``, ``terminal_s``, ``starve_after_s``,
  ``init_sat`` (see :class:`controller.simpang.SimpangAdaptive`).

The fallback is Webster's plan from ``flows`` (pcu/h per approach) when given, with its cycle
fixed to ``fixed_cycle_s`` when that is set; otherwise an equal split of ``fixed_cycle_s``
(90 s when unset).

Example:
    >>> from controller.config import ControllerConfig
    >>> from controller.scenarios.fourleg import signal_config
    >>> sup = build_supervisor(signal_config(), ControllerConfig(algorithm="max_pressure"), now=0.0, epoch=0.0)
    >>> sup.policy.name, sup.fallback.name
    ('max_pressure', 'fixed')
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.actuated import Actuated
from controller.config import ControllerConfig, SignalConfig
from controller.errors import ControllerError
from controller.fixed import FixedTime, equal_split, webster
from controller.max_pressure import MaxPressure
from controller.policy import Policy
from controller.simpang import SimpangAdaptive
from controller.supervisor import Supervisor

PARAMS: dict[str, frozenset[str]] = {
    "fixed": frozenset({"cycle_scale"}),
    "actuated": frozenset(),
    "max_pressure": frozenset({"hysteresis", "starve_after_s"}),
    "simpang": frozenset({"horizon_s", "dt", "startup_loss_s", "terminal_s", "starve_after_s", "init_sat"}),
}
DEFAULT_CYCLE_S = 90.0


def fallback_plan(
    signal: SignalConfig,
    config: ControllerConfig,
    flows: Mapping[str, float] | None = None,
    saturation: Mapping[str, float] | None = None,
) -> FixedTime:
    """The fixed-time plan used as fallback (and as the ``fixed`` algorithm)."""
    scale = config.params.get("cycle_scale", 1.0) if config.algorithm == "fixed" else 1.0
    if flows and any(v > 0 for v in flows.values()):
        bounds = (config.fixed_cycle_s, config.fixed_cycle_s) if config.fixed_cycle_s else (40.0, 180.0)
        return webster(signal, flows, saturation or {}, cycle_bounds=bounds, cycle_scale=scale)
    return equal_split(signal, config.fixed_cycle_s or DEFAULT_CYCLE_S)


def build_policy(signal: SignalConfig, config: ControllerConfig, fallback: FixedTime) -> Policy:
    """The policy named by ``config.algorithm``, with ``config.params``.

    Raises:
        ControllerError: For a parameter the algorithm does not take.
    """
    algo = config.algorithm
    unknown = sorted(set(config.params) - PARAMS[algo])
    if unknown:
        valid = ", ".join(sorted(PARAMS[algo])) or "none"
        raise ControllerError(f"controller params {', '.join(unknown)} do not apply to {algo} (valid: {valid})")
    p = config.params
    if algo == "fixed":
        return fallback
    if algo == "actuated":
        return Actuated(signal)
    if algo == "max_pressure":
        return MaxPressure(signal, hysteresis=p.get("hysteresis", 1.0), starve_after_s=p.get("starve_after_s", 120.0))
    return SimpangAdaptive(signal, camera_range_m=config.camera_range_m, **{k: float(v) for k, v in p.items()})


def build_supervisor(
    signal: SignalConfig,
    config: ControllerConfig,
    *,
    now: float,
    epoch: float,
    flows: Mapping[str, float] | None = None,
    saturation: Mapping[str, float] | None = None,
) -> Supervisor:
    """The supervisor (policy + fixed-time fallback + envelope) for one intersection.

    Args:
        signal: The site's signal config.
        config: The site's controller config.
        now: Controller clock now (monotonic seconds).
        epoch: Wall-clock time at controller time 0 (for hi-res timestamps: ``wall - mono``).
        flows: Design flows per approach (pcu/h) for Webster's fallback plan, if known.
        saturation: Saturation flows per approach (pcu/h of green; PKJI ``600 x width``);
            1800 pcu/h for approaches left out.

    Raises:
        ControllerError: Unknown parameters; :class:`~controller.errors.TimingRejectedError`
            when the signal config breaks a safety rule.
    """
    plan = fallback_plan(signal, config, flows, saturation)
    policy = build_policy(signal, config, plan)
    return Supervisor(signal, config, policy, plan, now=now, epoch=epoch)
