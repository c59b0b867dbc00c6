"""Named scenarios for the harness: Simpang's four-leg intersection and the RESCO benchmark nets.

The RESCO nets (Ault and Sharon, 2021) are read from the installed PyPI package ``sumo-rl``
(``sumo_rl/nets/RESCO/<name>/``), never copied; their time window is the one in each net's
``.sumocfg`` (the window RESCO evaluates).

Example:
    >>> sorted(SCENARIOS)
    ['cologne1', 'cologne8', 'fourleg', 'grid4x4', 'ingolstadt1']
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

from controller.errors import ScenarioError
from controller.fixed import pkji_saturation
from controller.observation import PCU_PROTECTED
from controller.scenarios import fourleg
from controller.sumo import Case, Intersection, intersections_from_net
from models.classes import VehicleClass

RESCO = ("cologne1", "cologne8", "ingolstadt1", "grid4x4")
SCENARIOS = ("fourleg", *RESCO)


def resco_dir(name: str) -> Path:
    """The directory of a RESCO net inside the installed ``sumo-rl`` package."""
    # Locate the package without importing it: importing sumo_rl needs SUMO_HOME and gymnasium,
    # and only its data files are wanted here.
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError("the RESCO nets come with sumo-rl: pip install 'simpang[bench]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "nets" / "RESCO" / name
    if not path.is_dir():
        raise ScenarioError(f"RESCO net {name!r} is not in the installed sumo-rl ({path})")
    return path


def load_case(name: str, seed: int, workdir: Path, duration_s: float | None = None, demand_scale: float = 1.0) -> Case:
    """Build or locate scenario ``name`` for ``seed``.

    Args:
        name: One of :data:`SCENARIOS`.
        seed: Demand seed for the four-leg scenario (RESCO routes are fixed; the seed only
            drives SUMO's randomness there).
        workdir: Where generated files go.
        duration_s: Horizon; the four-leg demand profile is spread over it, RESCO runs are cut.
        demand_scale: Four-leg demand multiplier.

    Raises:
        ScenarioError: Unknown name or missing package.
    """
    if name == "fourleg":
        return fourleg_case(workdir / f"fourleg_s{seed}", seed, duration_s or 3600.0, demand_scale)
    if name not in RESCO:
        raise ScenarioError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    d = resco_dir(name)
    cfg = ET.parse(d / f"{name}.sumocfg").getroot()
    routes = cfg.find("input/route-files")
    begin_el, end_el = cfg.find("time/begin"), cfg.find("time/end")
    route_names = (routes.get("value", "") if routes is not None else "").split(",")
    begin = float(begin_el.get("value", "0")) if begin_el is not None else 0.0
    end = float(end_el.get("value", "3600")) if end_el is not None else 3600.0
    if duration_s is not None:
        end = min(end, begin + duration_s)
    net = d / f"{name}.net.xml"
    return Case(
        name=name,
        net_file=net,
        route_files=tuple(d / r.strip() for r in route_names if r.strip()),
        begin=begin,
        end=end,
        intersections=intersections_from_net(net),
    )


def fourleg_case(out_dir: Path, seed: int, duration_s: float, demand_scale: float) -> Case:
    """The four-leg scenario as a harness case, with PKJI design and saturation flows."""
    sc = fourleg.build(out_dir, seed=seed, duration_s=duration_s, demand_scale=demand_scale)
    return Case(name="fourleg", net_file=sc.net_file, route_files=(sc.route_file,), begin=0.0,
                end=duration_s, intersections=(fourleg_intersection(sc),))


def fourleg_intersection(sc: fourleg.Scenario) -> Intersection:
    """The harness's view of a built four-leg scenario: SUMO link states per phase, detection
    groups, PKJI design flows (pcu/h) and saturation flows (600 x width)."""
    signal = fourleg.signal_config(lane_groups=True)
    root = ET.parse(sc.net_file).getroot()
    by_edges = {v: k for k, v in sc.movements.items()}
    move_links: dict[str, list[int]] = {}
    n = 0
    for con in root.iter("connection"):
        if con.get("tl") != sc.tls_id:
            continue
        idx = int(con.get("linkIndex", "-1"))
        n = max(n, idx + 1)
        move = by_edges[(con.get("from", ""), con.get("to", ""))]
        move_links.setdefault(move, []).append(idx)
    links: dict[int, str] = {}
    for p in signal.phases:
        st = ["r"] * n
        for m in sc.permissive.get(p.id, ()):
            for i in move_links[m]:
                st[i] = "g"
        for m in p.movements:
            for i in move_links[m]:
                st[i] = "G"
        links[p.id] = "".join(st)
    pcu = {cls.label: PCU_PROTECTED[cls] for cls in VehicleClass}
    flows = {g: sum(v * pcu.get(c, 1.0) for c, v in by_cls.items()) for g, by_cls in sc.peak_flows.items()}
    sat = {g: pkji_saturation(w) for g, w in sc.approach_width_m.items()}
    return Intersection(tls_id=sc.tls_id, signal=signal, links=links, groups=sc.groups, design_flows=flows, saturation=sat)
