"""``simpang demo``: run the most complete end-to-end chain Simpang has, and print a summary.

At this stage of the project the chain is: load and validate every shipped site file. Later
issues extend it (replay, controller, central, digital twin).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.config_loader import load_site

SITES_DIR = Path(__file__).resolve().parent.parent / "sites"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    p = sub.add_parser("demo", help="run the end-to-end demo and print a summary")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--headless", action="store_true", help="run unattended: no browser, no prompts")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate the shipped sites and report them."""
    sites = []
    for path in sorted(SITES_DIR.glob("*.yaml")):
        site = load_site(path)
        sites.append({"file": path.name, "site_id": site.site_id, "cameras": len(site.cameras)})
    summary = {"stage": "foundation", "sites_validated": len(sites), "sites": sites}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"Simpang demo: {len(sites)} shipped site file(s) validated")
        for s in sites:
            print(f"  {s['file']}: site {s['site_id']}, {s['cameras']} camera(s)")
    return 0
