"""Argument-parsing pieces shared by the command modules: command groups and argument types."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def command_group(sub: Subparsers, name: str, help_text: str) -> Subparsers:
    """The sub-command action of top-level command ``name``, creating the command if needed.

    Lets a module add ``simpang NAME ACTION`` without knowing which module created ``NAME``;
    the modules only have to be listed in ``COMMAND_MODULES``.
    """
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(title=f"{name} commands", metavar="ACTION", required=True)


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as an argparse type (``[::1]:8080`` works too)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8080)")
    return host.strip("[]"), int(port)
