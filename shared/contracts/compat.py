"""Schema compatibility between a checked-in event schema and the current model.

An event version may only grow: every field an old consumer knows keeps its name, type
and requiredness, and any new field is optional. Anything else needs a new version.
"""

from __future__ import annotations

from typing import Any


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(schema, schema.get("$defs", {})[ref.split("/")[-1]])
    return node


def _shape(schema: dict[str, Any], node: dict[str, Any], depth: int = 0) -> Any:
    """A comparable summary of a property's type (resolving references)."""
    node = _resolve(schema, node)
    if depth > 6:
        return "…"
    if "anyOf" in node:
        return (
            "anyOf",
            tuple(sorted(map(str, (_shape(schema, n, depth + 1) for n in node["anyOf"])))),
        )
    if node.get("type") == "array":
        return ("array", _shape(schema, node.get("items", {}), depth + 1))
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        return (
            "object",
            tuple(
                sorted(
                    (k, _shape(schema, v, depth + 1), k in node.get("required", []))
                    for k, v in props.items()
                )
            ),
        )
    if "enum" in node:
        return ("enum", tuple(sorted(map(str, node["enum"]))))
    if "const" in node:
        return ("const", str(node["const"]))
    return (node.get("type"), node.get("format"))


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` is not a compatible evolution of ``old`` (empty when it is)."""
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name, node in old_props.items():
        if name not in new_props:
            problems.append(f"field {name!r} removed")
            continue
        if _shape(old, node) != _shape(new, new_props[name]):
            problems.append(f"field {name!r} changed type")
    for name in sorted(old_req - new_req):
        if name in new_props:
            problems.append(f"field {name!r} no longer required (old consumers rely on it)")
    for name in sorted(new_req - old_req):
        problems.append(f"new field {name!r} is required (old producers do not send it)")
    return problems
