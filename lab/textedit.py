"""Edits of configuration text (the labs, the tests) that fail when the text has drifted, instead of doing nothing.

``str.replace`` returns the text unchanged when the old text is not there: a test that edits a config that way
keeps passing while testing something else (a lab quietly builds another network).  ``replaced`` makes each
edit an assertion; ``yaml_edited`` edits the document's structure, for changes that do not depend on how the
text is laid out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml


def replaced(text: str, *edits: tuple[str, str] | tuple[str, str, int]) -> str:
    """``text`` with each (old, new[, count]) applied in turn; an ``old`` not found is an error naming it."""
    for edit in edits:
        old, new = edit[0], edit[1]
        if old not in text:
            raise AssertionError(f"config edit found nothing to replace: {old!r}")
        text = text.replace(old, new, edit[2]) if len(edit) == 3 else text.replace(old, new)
    return text


def yaml_edited(text: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The YAML document ``text``, changed in its structure by ``change``, dumped again."""
    doc = yaml.safe_load(text)
    change(doc)
    return str(yaml.safe_dump(doc, sort_keys=False))


def named(items: list[dict[str, Any]], value: str, key: str = "id") -> dict[str, Any]:
    """The one mapping of a list whose ``key`` is ``value`` (an egress by id, a peer by name)."""
    (found,) = [i for i in items if i.get(key) == value]
    return found
