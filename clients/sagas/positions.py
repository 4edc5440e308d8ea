"""YAML read with the line of every node, so each problem `cadenza saga lint` finds names the line it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cadenza.errors import InvalidInput

Location = tuple[str | int, ...]


class UnreadableDefinition(InvalidInput):
    """A definition file that is missing or not YAML: nothing was checked."""


class Positioned:
    """A YAML document's data and the line (1-based) of each node, by its path of keys and indexes."""

    def __init__(self, data: Any, lines: dict[Location, int]) -> None:
        self.data = data
        self._lines = lines

    def line(self, where: Location) -> int:
        """The line of `where`, or of its nearest ancestor in the file (a value built from a template has none)."""
        while where not in self._lines and where:
            where = where[:-1]
        return self._lines.get(where, 1)


def read_positioned(path: Path) -> Positioned:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UnreadableDefinition(f"{path}: cannot read the saga definition: {err}") from err
    return parse_positioned(text, str(path))


def parse_positioned(text: str, name: str) -> Positioned:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UnreadableDefinition(f"{name}:1: the saga definition is empty")
        lines: dict[Location, int] = {}
        data = _convert(loader, node, (), lines, name)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UnreadableDefinition(f"{name}{line}: not YAML: {problem}") from err
    finally:
        loader.dispose()
    return Positioned(data, lines)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, where: Location, lines: dict[Location, int], name: str) -> Any:
    lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise UnreadableDefinition(f"{name}:{key_node.start_mark.line + 1}: a key must be text, not {key!r}")
            text = str(key)
            if text in result:
                raise UnreadableDefinition(f"{name}:{key_node.start_mark.line + 1}: {text!r} is given twice")
            # The entry's line is its key's: a block value starts on the line after.
            lines[(*where, text)] = key_node.start_mark.line + 1
            result[text] = _convert(loader, value_node, (*where, text), lines, name)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*where, index), lines, name) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
