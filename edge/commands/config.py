"""``simpang config validate FILE`` and ``simpang config schema``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.config import SiteConfig
from edge.config_loader import load_site
from edge.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` and its sub-commands."""
    p = sub.add_parser("config", help="validate site files and print the configuration schema")
    cs = p.add_subparsers(title="config commands", metavar="ACTION", required=True)
    v = cs.add_parser("validate", help="check site YAML files; print every error with its line")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE")
    v.set_defaults(handler=_validate)
    s = cs.add_parser("schema", help="print the JSON Schema of a site file")
    s.set_defaults(handler=_schema)


def _validate(args: argparse.Namespace) -> int:
    failed: list[ConfigError] = []
    for path in args.files:
        try:
            site = load_site(path)
        except ConfigError as err:
            failed.append(err)
            continue
        print(
            f"{path}: ok (site {site.site_id}: {len(site.cameras)} camera(s), {len(site.approaches)} approach(es), "
            f"{len(site.lines)} line(s), {len(site.movements)} movement(s))"
        )
    if not failed:
        return 0
    problems = [p for err in failed for p in err.problems]
    if len(problems) == 1:
        raise ConfigError(problems[0])
    raise ConfigError(f"{len(problems)} problem(s) in {len(failed)} file(s)", problems)


def schema() -> dict[str, Any]:
    """The JSON Schema of a site file."""
    return SiteConfig.model_json_schema()


def _schema(_args: argparse.Namespace) -> int:
    print(json.dumps(schema(), indent=2))
    return 0
