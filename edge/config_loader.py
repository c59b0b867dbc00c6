"""Load a site YAML file into :class:`edge.config.SiteConfig`, reporting errors by YAML line.

Example:
    >>> site = load_site(Path("edge/sites/highway_uk.yaml"))  # doctest: +SKIP
    >>> site.site_id                                              # doctest: +SKIP
    'highway-uk'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge.config import SiteConfig, SiteReferenceError
from edge.errors import ConfigError

Loc = tuple[str | int, ...]


def _line_index(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item under ``node``."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _line_index(item, (*path, i), out)


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    """The line of ``loc`` or of its nearest ancestor present in the file."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _dotted(loc: Loc) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def parse_site(text: str, name: str = "<site>") -> SiteConfig:
    """Parse and validate site YAML text; raise :class:`ConfigError` listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: a site file must be a YAML mapping, found {type(data).__name__}")
    lines: dict[Loc, int] = {}
    if root is not None:
        _line_index(root, (), lines)
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            base: Loc = tuple(x for x in e["loc"] if isinstance(x, str | int))
            cause = (e.get("ctx") or {}).get("error")
            found = cause.problems if isinstance(cause, SiteReferenceError) else [((), e["msg"])]
            for sub, msg in found:
                loc = (*base, *sub)
                text = msg.removeprefix("Value error, ")
                problems.append(f"{name}:{_line_for(loc, lines)}: {_dotted(loc)}: {text}")
        raise ConfigError(f"{name}: {len(problems)} problem(s): {problems[0]}", problems) from None


def load_site(path: Path) -> SiteConfig:
    """Read and validate a site file; raise :class:`ConfigError` with a one-line message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: site file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read site file: {err}") from None
    return parse_site(text, str(path))


def resolve_path(site_file: Path, value: str) -> Path:
    """A path from the site file, resolved relative to the file's folder when relative."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (site_file.parent / p).resolve()
