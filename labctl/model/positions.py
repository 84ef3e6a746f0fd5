"""YAML loading that remembers where each key stood, so errors can say `lab.yaml:LINE: key.path`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data from a YAML document plus the line (1-based) of every key path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of PATH, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


# Tags a plain data file may carry (YAML's core schema); anything else (`!!python/object`, a
# custom `!tag`, `!!binary`, merge keys) is refused, not constructed.
_ALLOWED_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
}
# Aliases let a few hundred bytes expand to billions of values; a lab or scenario file needs few.
MAX_ALIASES = 50
MAX_VALUES = 100_000
MAX_DEPTH = 64
# libyaml's parser when PyYAML was built with it: a 250 KB file parses in 0.3 s, not 1.5 s. Its
# nodes carry the same marks; it refuses nesting past its own depth limit (1000) by itself.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class _Walk:
    """Budgets of one document's conversion: aliases used, values made, nodes being converted."""

    lines: dict[Path_, int]
    seen: set[int] = field(default_factory=set)
    open: set[int] = field(default_factory=set)
    aliases: int = 0
    values: int = 0
    constructor: yaml.constructor.SafeConstructor = field(default_factory=yaml.constructor.SafeConstructor)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _convert(node: yaml.Node, path: Path_, walk: _Walk, depth: int = 0) -> Any:
    walk.lines.setdefault(path, _line(node))
    if node.tag not in _ALLOWED_TAGS:
        shown = _clip(node.tag.replace("tag:yaml.org,2002:", "!!"), 40)
        raise YamlSyntaxError(_line(node), f"the YAML tag {shown!r} is not allowed: plain values only")
    if id(node) in walk.open:
        raise YamlSyntaxError(_line(node), "a recursive alias (an anchor used inside itself) is not allowed")
    if id(node) in walk.seen:  # the composer shares a node only through an alias
        walk.aliases += 1
        if walk.aliases > MAX_ALIASES:
            raise YamlSyntaxError(_line(node), f"more than {MAX_ALIASES} aliases (*name): write the values out")
    walk.seen.add(id(node))
    walk.values += 1
    if walk.values > MAX_VALUES:
        raise YamlSyntaxError(_line(node), f"the document expands to more than {MAX_VALUES} values")
    if depth > MAX_DEPTH:
        raise YamlSyntaxError(_line(node), f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, yaml.MappingNode):
        walk.open.add(id(node))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSyntaxError(_line(key_node), "a key must be a plain value")
            key = _convert(key_node, path, walk, depth + 1)
            child = (*path, key)
            walk.lines[child] = _line(key_node)
            if key in result:
                raise YamlSyntaxError(_line(key_node), f"duplicate key {_short(key)}")
            result[key] = _convert(value_node, child, walk, depth + 1)
        walk.open.discard(id(node))
        return result
    if isinstance(node, yaml.SequenceNode):
        walk.open.add(id(node))
        items = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            walk.lines[child] = _line(item)
            items.append(_convert(item, child, walk, depth + 1))
        walk.open.discard(id(node))
        return items
    return _scalar(node, walk)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalar(node: yaml.Node, walk: _Walk) -> Any:
    # Construct the scalar the way safe_load would (ints, bools, null): its tag is a checked one.
    # The tag's own constructor, not construct_object: that one also keeps every node it made,
    # which a plain scalar does not need (a third of the load time of a 20,000-key file).
    if node.tag.endswith((":seq", ":map")):  # `!!map foo`: refused, as safe_load refuses it
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlSyntaxError(_line(node), f"broken YAML: a plain value tagged {shown}")
    try:
        return walk.constructor.yaml_constructors[node.tag](walk.constructor, node)
    except (ValueError, KeyError, TypeError) as exc:  # `!!int foo`, `!!bool x`: the tag's builder refused
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlSyntaxError(_line(node), f"broken YAML: {node.value!r} is not a valid {shown}") from exc


def load(text: str) -> Located:
    """Parse TEXT (one YAML document) into plain data with line numbers."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        if "nesting depth" in str(exc.problem):  # libyaml's own limit, far past MAX_DEPTH
            raise YamlSyntaxError(line, f"nested more than {MAX_DEPTH} levels deep") from exc
        raise YamlSyntaxError(line, f"broken YAML: {_clip(str(exc.problem or exc.context))}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"broken YAML: {_first_line(exc)}") from exc
    except RecursionError as exc:
        raise YamlSyntaxError(None, "broken YAML: nested too deeply") from exc
    if root is None:
        return Located(None)
    walk = _Walk({})
    try:
        data = _convert(root, (), walk)
    except yaml.YAMLError as exc:  # a scalar safe_load cannot construct
        raise YamlSyntaxError(None, f"broken YAML: {_first_line(exc)}") from exc
    return Located(data, walk.lines)


def _first_line(exc: BaseException) -> str:
    return _clip(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
