"""Typed access to a YAML node tree that remembers where every value came from.

Every check records an Issue (file, line, column, key path, message) and
returns None instead of raising, so one pass reports every error at once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

T = TypeVar("T")
PORT_MAX = 65535  # TCP and UDP ports


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class Recorder:
    """What the loader asks of each key path while it reads a config: the shapes it accepts there (a mapping and its
    keys, a list, a typed scalar).  ``bgpsteer schema`` builds the JSON Schema from this, so the schema is the
    loader's own definition of keys and types, not a second copy (config/schema.py)."""

    def __init__(self) -> None:
        self.shapes: dict[str, list[dict[str, Any]]] = {}

    def add(self, path: str, shape: dict[str, Any]) -> None:
        key = re.sub(r"\[\d+\]", "[]", path)
        seen = self.shapes.setdefault(key, [])
        if shape not in seen:
            seen.append(shape)


@dataclass
class Issues:
    file: str
    items: list[Issue] = field(default_factory=list)
    recorder: Recorder | None = None

    def add(self, node: Node | None, path: str, message: str) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        self.items.append(Issue(self.file, line, col, path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def sorted(self) -> list[Issue]:
        return sorted(self.items, key=lambda i: (i.line, i.column, i.path))


_constructor = SafeConstructor()
_Y = "tag:yaml.org,2002:"
# the tags a config value may carry: YAML's core schema (what a plain value resolves to, or an explicit !!str etc.)
TAGS = {f"{_Y}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}
MERGE = f"{_Y}merge"


@dataclass(frozen=True)
class Unreadable:
    """A scalar that YAML cannot turn into a value (an unknown tag, '!!int abc'): reported, never raised."""

    message: str


def scalar_value(node: ScalarNode) -> Any:
    if node.tag not in TAGS:
        return Unreadable(f"unsupported YAML tag {node.tag.replace(_Y, '!!')}: use a plain value")
    try:
        return _constructor.construct_object(node, deep=True)
    except Exception as exc:
        return Unreadable(f"cannot read {node.value!r} as {node.tag.replace(_Y, '!!')}: {exc}")


def _merged(node: MappingNode, seen: frozenset[int] = frozenset()) -> list[tuple[Node, Node]]:
    """The mapping's pairs with YAML merge keys (``<<: *base``) expanded: keys written here win over merged ones.
    A mapping merged into itself (through aliases) is merged once."""
    seen = seen | {id(node)}
    own = [(k, v) for k, v in node.value if k.tag != MERGE]
    written = {k.value for k, _ in own if isinstance(k, ScalarNode)}
    merged: list[tuple[Node, Node]] = []
    for k, v in node.value:
        if k.tag != MERGE:
            continue
        sources = v.value if isinstance(v, SequenceNode) else [v]
        for src in sources:
            if isinstance(src, MappingNode) and id(src) not in seen:
                for mk, mv in _merged(src, seen):
                    if not (isinstance(mk, ScalarNode) and mk.value in written):
                        written.add(mk.value)
                        merged.append((mk, mv))
    return own + merged


class Cursor:
    """A node plus its key path, with typed getters that record issues."""

    def __init__(self, node: Node | None, path: str, issues: Issues) -> None:
        self.node = node
        self.path = path
        self.issues = issues

    def error(self, message: str) -> None:
        self.issues.add(self.node, self.path, message)

    def child(self, node: Node | None, key: str | int) -> Cursor:
        if isinstance(key, int):
            return Cursor(node, f"{self.path}[{key}]", self.issues)
        return Cursor(node, f"{self.path}.{key}" if self.path else key, self.issues)

    @property
    def is_null(self) -> bool:
        return self.node is None or (isinstance(self.node, ScalarNode) and self.node.tag == "tag:yaml.org,2002:null")

    def _check_merge_keys(self, node: MappingNode) -> None:
        for k, v in node.value:
            if k.tag == MERGE and not (
                isinstance(v, MappingNode)
                or (isinstance(v, SequenceNode) and all(isinstance(x, MappingNode) for x in v.value))
            ):
                self.issues.add(k, self.path, "a merge key (<<) needs a mapping or a list of mappings")

    def mapping(self, known: dict[str, bool] | None) -> dict[str, Cursor] | None:
        """Children by key; reports duplicate, unknown and missing (required=True) keys.

        known=None accepts any key (user-chosen names such as set names).
        """
        if self.issues.recorder is not None:
            self.issues.recorder.add(self.path, {"mapping": None if known is None else dict(known)})
        if self.is_null:
            node = None
            pairs: list[tuple[Node, Node]] = []
        elif not isinstance(self.node, MappingNode):
            self.error(f"expected a mapping, got {self.kind()}")
            return None
        else:
            node = self.node
            if node.tag not in TAGS:
                self.error(f"unsupported YAML tag {node.tag.replace(_Y, '!!')}: use a plain mapping")
                return None
            self._check_merge_keys(node)
            pairs = _merged(node)
        out: dict[str, Cursor] = {}
        for knode, vnode in pairs:
            key = scalar_value(knode) if isinstance(knode, ScalarNode) else None
            if not isinstance(key, str):
                self.issues.add(knode, self.path, f"keys must be strings, got {knode.tag.replace(_Y, '!!')}")
                continue
            kpath = f"{self.path}.{key}" if self.path else key
            if key in out:
                first = out[key].node
                at = f" (first at line {first.start_mark.line + 1})" if first is not None else ""
                self.issues.add(knode, kpath, f"duplicate key{at}")
                continue
            if known is not None and key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
                self.issues.add(knode, kpath, f"unknown key{hint}")
                continue
            out[key] = Cursor(vnode, kpath, self.issues)
        for key, required in (known or {}).items():
            if required and key not in out:
                self.issues.add(
                    node if node is not None else self.node,
                    f"{self.path}.{key}" if self.path else key,
                    "required key is missing",
                )
        return out

    def kind(self) -> str:
        if isinstance(self.node, MappingNode):
            return "a mapping"
        if isinstance(self.node, SequenceNode):
            return "a list"
        if isinstance(self.node, ScalarNode):
            value = scalar_value(self.node)
            return (
                f"{self.node.value!r}"
                if isinstance(value, Unreadable)
                else f"{type(value).__name__} {self.node.value!r}"
            )
        return "nothing"

    def items(self, allow_scalar: bool = False) -> Iterator[Cursor]:
        """Elements of a list (a lone scalar counts as a one-element list if allowed)."""
        self.accepts({"array": allow_scalar})
        if isinstance(self.node, SequenceNode) and self.node.tag not in TAGS:
            self.error(f"unsupported YAML tag {self.node.tag.replace(_Y, '!!')}: use a plain list")
        elif isinstance(self.node, SequenceNode):
            for i, n in enumerate(self.node.value):
                yield self.child(n, i)
        elif allow_scalar and isinstance(self.node, ScalarNode) and not self.is_null:
            yield self
        else:
            self.error(f"expected a list, got {self.kind()}")

    def _typed(self, want: type[T] | tuple[type, ...], label: str) -> Any:
        if not isinstance(self.node, ScalarNode) or self.is_null:
            self.error(f"expected {label}, got {self.kind()}")
            return None
        value = scalar_value(self.node)
        if isinstance(value, Unreadable):
            self.error(value.message)
            return None
        if isinstance(value, bool) and want is not bool:
            self.error(f"expected {label}, got {self.kind()}")
            return None
        if not isinstance(value, want):
            self.error(f"expected {label}, got {self.kind()}")
            return None
        return value

    def accepts(self, shape: dict[str, Any]) -> None:
        """Tell the recorder (if any) what this key accepts: for loaders that read a value their own way."""
        if self.issues.recorder is not None:
            self.issues.recorder.add(self.path, shape)

    def string(self) -> str | None:
        self.accepts({"type": "string"})
        value = self._typed(str, "a string")
        if value is not None and not value.strip():
            self.error("must not be empty")
            return None
        return value  # type: ignore[no-any-return]

    def integer(self, lo: int | None = None, hi: int | None = None) -> int | None:
        self.accepts(
            {
                "type": "integer",
                **({"minimum": lo} if lo is not None else {}),
                **({"maximum": hi} if hi is not None else {}),
            }
        )
        value = self._typed(int, "an integer")
        if value is None:
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.error(f"{value} is out of range {lo}..{hi}")
            return None
        return int(value)

    def number(self, lo: float | None = None) -> float | None:
        self.accepts({"type": "number", **({"minimum": lo} if lo is not None else {})})
        value = self._typed((int, float), "a number")
        if value is None:
            return None
        if not math.isfinite(value):  # .nan compares false to every bound, .inf passes every lower one
            self.error(f"expected a finite number, got {self.node.value!r}")  # type: ignore[union-attr]
            return None
        if lo is not None and value < lo:
            self.error(f"{value} must be at least {lo}")
            return None
        return float(value)

    def boolean(self) -> bool | None:
        self.accepts({"type": "boolean"})
        return self._typed(bool, "true or false")  # type: ignore[no-any-return]

    def choice(self, options: tuple[str, ...]) -> str | None:
        self.accepts({"enum": list(options)})
        value: str | None = self._typed(str, "a string")
        if value is not None and not value.strip():
            self.error("must not be empty")
            value = None
        if value is not None and value not in options:
            self.error(f"{value!r} is not one of: {', '.join(options)}")
            return None
        return value

    def parsed(self, parse: Callable[[str], T]) -> T | None:
        """A string checked by a parser that raises ValueError with a readable message."""
        text = self.string()
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.error(str(exc))
            return None


def load_yaml(text: str, filename: str, issues: Issues) -> Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        issues.items.append(Issue(filename, line, col, "", f"YAML syntax error: {exc.problem or exc}"))
    except yaml.YAMLError as exc:
        issues.items.append(Issue(filename, 1, 1, "", f"YAML error: {exc}"))
    except RecursionError:
        issues.items.append(Issue(filename, 1, 1, "", "YAML error: nested too deeply"))
    return None
