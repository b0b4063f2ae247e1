"""The text edit under promote, rollback and update: one alias changed in manifest text,
touching only the bytes that must change. Knows YAML text, not git or the registry.

The document is never re-dumped: PyYAML's node marks give each value's character span, so
comments, quoting, key order, blank lines and line endings all survive, and `git diff` shows
one line. A new alias or model is written in the style (block or flow, indentation) around it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from controller.errors import EditError
from controller.manifest import compose_manifest

DEFAULT_INDENT = 2
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_STR_TAG = "tag:yaml.org,2002:str"

# What to write where keys are missing: {"aliases": {"champion": 4}}; leaves are versions.
Tree = dict[str, Any]


def set_alias(text: str, model: str, alias: str, version: int | str) -> str:
    """Return `text` with models.MODEL.aliases.ALIAS set to VERSION, adding keys as needed.

    VERSION may be a flow mapping's text (a copy, `{source: staging, version: 7}`)."""
    root = compose_manifest(text)
    if not isinstance(root, yaml.MappingNode):
        raise EditError("the manifest is not a mapping")
    parents = ["models", model, "aliases"]
    node, parent_column = root, None
    for depth, key in enumerate(parents):
        entry = _find(node, key)
        if entry is None:
            return _add_entry(text, node, parent_column, _nested(parents[depth:], alias, version))
        key_node, value = entry
        if not isinstance(value, yaml.MappingNode):
            raise EditError(f"{'.'.join(parents[: depth + 1])} is not a mapping")
        node, parent_column = value, key_node.start_mark.column
    entry = _find(node, alias)
    if entry is None:
        return _add_entry(text, node, parent_column, {alias: version})
    return _replace_value(text, entry[1], str(version))


def _find(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    # Keys are compared as written, as the manifest reader reads them (`1:` is the name "1").
    for key_node, value in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value
    return None


def _nested(keys: list[str], alias: str, version: int | str) -> Tree:
    tree: Tree = {alias: version}
    for key in reversed(keys):
        tree = {key: tree}
    return tree


def _replace_value(text: str, node: yaml.Node, value: str) -> str:
    """A version, or a copy written in flow style, replaced by `value`; a copy in block style
    spans lines whose layout is the author's: that one is edited by hand."""
    if isinstance(node, yaml.MappingNode) and node.flow_style:
        return text[: node.start_mark.index] + value + text[node.end_mark.index :]
    if not isinstance(node, yaml.ScalarNode):
        raise EditError("the alias's value is not a single version or a one-line copy")
    start, end = node.start_mark.index, node.end_mark.index
    # An empty value (`champion:`) has a zero-width span right after the colon.
    if start == end:
        value = " " + value
    return text[:start] + value + text[end:]


def _add_entry(text: str, mapping: yaml.MappingNode, parent_column: int | None, tree: Tree) -> str:
    if mapping.flow_style:
        return _add_flow_entry(text, mapping, tree)
    return _add_block_entry(text, mapping, parent_column, tree)


def _add_flow_entry(text: str, mapping: yaml.MappingNode, tree: Tree) -> str:
    if mapping.value:
        at = _content_end(mapping.value[-1][1])
        insert = ", " + _flow(tree, _key_style(mapping))
    else:
        at = mapping.start_mark.index + 1  # just inside `{`
        insert = _flow(tree, None)
    return text[:at] + insert + text[at:]


def _add_block_entry(
    text: str, mapping: yaml.MappingNode, parent_column: int | None, tree: Tree
) -> str:
    """Add lines after the mapping's last entry, at its indentation and with its line ending."""
    newline = "\r\n" if "\r\n" in text else "\n"
    column = mapping.value[0][0].start_mark.column
    step = column - parent_column if parent_column is not None else DEFAULT_INDENT
    lines = _block(tree, column, step, _key_style(mapping))
    line_end = text.find("\n", _content_end(mapping.value[-1][1]))
    if line_end == -1:
        return text + newline + newline.join(lines)
    at = line_end + 1
    return text[:at] + newline.join(lines) + newline + text[at:]


def _content_end(node: yaml.Node) -> int:
    """Where a value's own text ends; a block mapping's end mark lies past trailing comments."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    return node.end_mark.index


def _key_style(mapping: yaml.MappingNode) -> str | None:
    """The quote style of the mapping's first key, so new keys look like their siblings."""
    first = mapping.value[0][0] if mapping.value else None
    return first.style if isinstance(first, yaml.ScalarNode) else None


def _block(tree: Tree, column: int, step: int, style: str | None) -> list[str]:
    lines: list[str] = []
    for key, value in tree.items():
        head = " " * column + _key(key, style) + ":"
        if isinstance(value, dict):
            lines += [head, *_block(value, column + step, step, style)]
        else:
            lines.append(f"{head} {value}")
    return lines


def _flow(tree: Tree, style: str | None) -> str:
    parts = (f"{_key(key, style)}: {_flow_value(value, style)}" for key, value in tree.items())
    return ", ".join(parts)


def _flow_value(value: Tree | int | str, style: str | None) -> str:
    return "{" + _flow(value, style) + "}" if isinstance(value, dict) else str(value)


def _key(name: str, style: str | None) -> str:
    """Quote like the siblings do, and whenever a plain key would not read back as this text."""
    if style == "'":
        return "'" + name.replace("'", "''") + "'"
    if style == '"' or not _is_plain_safe(name):
        return json.dumps(name, ensure_ascii=False)
    return name


def _is_plain_safe(name: str) -> bool:
    resolved: Any = yaml.resolver.Resolver().resolve(yaml.ScalarNode, name, (True, False))
    return bool(_PLAIN_KEY.match(name)) and resolved == _STR_TAG
