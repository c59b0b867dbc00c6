"""The ``simpang`` command line.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``; the parser it adds
sets ``handler`` to a function ``(args) -> int``. Modules are listed in :data:`COMMAND_MODULES` and
must keep heavy imports inside their handlers, so that ``simpang --help`` stays fast on a Pi.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from central.errors import CentralError
from controller.errors import ControllerError
from edge.errors import ConfigError, EdgeError
from models.errors import ModelError

#: Sub-command modules, in the order ``simpang --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "edge.commands.replay",
    "edge.commands.edge",
    "edge.commands.edge_run",
    "central.cli",
    "edge.commands.twin",
    "edge.commands.demo",
    "edge.commands.config",
    "models.cli",
    "models.cli_train",
    "controller.cli",
)

#: Errors a user can cause: reported as one line, never a traceback.
USER_ERRORS = (EdgeError, ModelError, ControllerError, CentralError)


def build_parser() -> argparse.ArgumentParser:
    """The full ``simpang`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="simpang",
        description="Camera-based traffic analytics and adaptive signal control for intersections.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simpang`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(int(args.verbose), 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except ConfigError as err:
        for problem in err.problems:
            if problem != str(err):
                print(problem, file=sys.stderr)
        print(f"simpang: error: {err}", file=sys.stderr)
        return 2
    except USER_ERRORS as err:
        print(f"simpang: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("simpang: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
