"""Adaptive signal control: policies propose, a safety envelope disposes, actuators apply.

Modules, in the order data flows through them:

* :mod:`controller.config`, :mod:`controller.rules` - the signal model (phases with NTCIP 1202
  timings, conflicts, stages) and the rules every plan must pass.
* :mod:`controller.observation` - what a camera at the intersection sees, per detection group.
* :mod:`controller.policy` and the algorithms :mod:`controller.fixed` (Webster, PKJI 2023),
  :mod:`controller.actuated` (gap-out/max-out), :mod:`controller.max_pressure`,
  :mod:`controller.simpang` (rollout look-ahead) - ``decide(state, now) -> Wish``.
* :mod:`controller.envelope` - turns wishes into legal signal states; logs Indiana hi-res events
  (:mod:`controller.hires`, ATSPM CSV).
* :mod:`controller.supervisor` - detection health and the fixed-time fallback;
  :mod:`controller.factory` builds one for a site.
* :mod:`controller.actuator` - the actuator protocol, an in-process cabinet, and how NTCIP 1202
  phase control maps onto it; :mod:`controller.sumo` - SUMO through libsumo.
* :mod:`controller.scenarios` - the four-leg scenario and the RESCO nets;
  :mod:`controller.bench` and :mod:`controller.cli` - ``simpang controller bench``.
"""
