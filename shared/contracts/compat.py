"""Schema compatibility between a checked-in event schema and the current model.

An event version may only grow: every field an old consumer knows keeps its name, type
and requiredness, and any new field is optional. Anything else needs a new version.
The rule applies at every depth: a nested object (``LinkApproved.guardian``, each of its
``phones[]``) may gain optional fields, and nothing else.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _resolve(schema: Schema, node: Schema) -> Schema:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(schema, schema.get("$defs", {})[ref.split("/")[-1]])
    return node


def _is_object(node: Schema) -> bool:
    return node.get("type") == "object" or "properties" in node


def _leaf(node: Schema) -> Any:
    """A comparable summary of a node that is neither an object, an array nor a union."""
    if "enum" in node:
        return ("enum", tuple(sorted(map(str, node["enum"]))))
    if "const" in node:
        return ("const", str(node["const"]))
    return (node.get("type"), node.get("format"))


def _kind(node: Schema) -> str:
    if "anyOf" in node:
        return "anyOf"
    if node.get("type") == "array":
        return "array"
    if _is_object(node):
        return "object"
    return "leaf"


def _compare(
    old_root: Schema,
    old: Schema,
    new_root: Schema,
    new: Schema,
    path: str,
    problems: list[str],
    depth: int = 0,
) -> None:
    """Append to ``problems`` why ``new`` (at ``path``) cannot replace ``old``."""
    old, new = _resolve(old_root, old), _resolve(new_root, new)
    if depth > 8:
        return
    kind = _kind(old)
    if kind != _kind(new):
        problems.append(f"field {path!r} changed type")
        return
    if kind == "anyOf":
        old_branches, new_branches = old["anyOf"], new["anyOf"]
        if len(old_branches) != len(new_branches):
            problems.append(f"field {path!r} changed type")
            return
        for o, n in zip(old_branches, new_branches, strict=True):
            _compare(old_root, o, new_root, n, path, problems, depth + 1)
        return
    if kind == "array":
        _compare(
            old_root, old.get("items", {}), new_root, new.get("items", {}), f"{path}[]",
            problems, depth + 1,
        )
        return
    if kind == "object":
        _compare_objects(old_root, old, new_root, new, f"{path}.", problems, depth + 1)
        return
    if _leaf(old) != _leaf(new):
        problems.append(f"field {path!r} changed type")


def _compare_objects(
    old_root: Schema,
    old: Schema,
    new_root: Schema,
    new: Schema,
    prefix: str,
    problems: list[str],
    depth: int = 0,
) -> None:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name, node in old_props.items():
        if name not in new_props:
            problems.append(f"field {prefix + name!r} removed")
            continue
        _compare(old_root, node, new_root, new_props[name], prefix + name, problems, depth)
    for name in sorted(old_req - new_req):
        if name in new_props:
            problems.append(
                f"field {prefix + name!r} no longer required (old consumers rely on it)"
            )
    for name in sorted(new_req - old_req):
        problems.append(f"new field {prefix + name!r} is required (old producers do not send it)")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Why ``new`` is not a compatible evolution of ``old`` (empty when it is)."""
    problems: list[str] = []
    _compare_objects(old, old, new, new, "", problems)
    return problems
