"""Avro schema compatibility by the resolution rules of the Avro specification.

BACKWARD (the registry's level for our subjects) means: a consumer using the new schema can read
every record written with the old one, i.e. the new schema resolves against the old as writer.
Used by `journeyctl schemas check` against the committed history, where no registry is needed.
"""

from __future__ import annotations

from typing import Any

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _fullname(node: dict[str, Any], namespace: str | None) -> str:
    name = node["name"]
    if "." in name:
        return str(name)
    ns = node.get("namespace", namespace)
    return f"{ns}.{name}" if ns else str(name)


class _Names:
    """Named types (records, enums, fixed) of one schema, so references can be followed."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, None)

    def _collect(self, node: Any, ns: str | None) -> None:
        if isinstance(node, list):
            for n in node:
                self._collect(n, ns)
        elif isinstance(node, dict):
            t = node.get("type")
            if t in ("record", "error", "enum", "fixed"):
                full = _fullname(node, ns)
                self.types[full] = node
                self.types.setdefault(node["name"], node)
                inner_ns = full.rsplit(".", 1)[0] if "." in full else None
                for f in node.get("fields", ()):
                    self._collect(f["type"], inner_ns)
            elif t in ("array",):
                self._collect(node["items"], ns)
            elif t in ("map",):
                self._collect(node["values"], ns)
            elif isinstance(t, dict | list):
                self._collect(t, ns)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, str) and node not in _PRIMITIVES:
            found = self.types.get(node) or self.types.get(node.rsplit(".", 1)[-1])
            if found is None:
                raise ValueError(f"unknown type name {node!r}")
            return found
        if (
            isinstance(node, dict)
            and isinstance(node.get("type"), str | dict | list)
            and node.get("type") not in ("record", "error", "enum", "fixed", "array", "map")
        ):
            # {"type": "long", "logicalType": ...} and the like
            return self.resolve(node["type"])
        return node


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "union"
    if isinstance(node, str):
        return node
    return str(node["type"])


def backward_errors(new: Any, old: Any) -> list[str]:
    """Why readers with `new` cannot read data written with `old` (empty: compatible)."""
    reader_names, writer_names = _Names(new), _Names(old)
    errors: list[str] = []
    _check(
        reader_names.resolve(new), writer_names.resolve(old), reader_names, writer_names, "", errors, set()
    )
    return errors


def _check(
    r: Any, w: Any, rn: _Names, wn: _Names, path: str, errors: list[str], seen: set[tuple[int, int]]
) -> None:
    r, w = rn.resolve(r), wn.resolve(w)
    key = (id(r), id(w))
    if key in seen:  # recursive types
        return
    seen.add(key)
    rk, wk = _kind(r), _kind(w)
    where = path or "<root>"
    if wk == "union":
        for branch in w:
            _check(r, branch, rn, wn, path, errors, seen)
        return
    if rk == "union":
        for branch in r:
            trial: list[str] = []
            _check(branch, w, rn, wn, path, trial, set(seen))
            if not trial:
                return
        errors.append(f"{where}: the new union has no branch that reads the old {wk}")
        return
    if wk in _PROMOTIONS and rk in _PROMOTIONS[wk]:
        return
    if rk != wk:
        errors.append(f"{where}: type changed from {wk} to {rk}")
        return
    if rk == "record":
        old_fields = {f["name"]: f for f in w["fields"]}
        for f in r["fields"]:
            match = old_fields.get(f["name"])
            if match is None:
                for alias in f.get("aliases", ()):
                    match = old_fields.get(alias)
                    if match is not None:
                        break
            if match is None:
                if "default" not in f:
                    errors.append(f"{path}.{f['name']}: new field without a default")
                continue
            _check(f["type"], match["type"], rn, wn, f"{path}.{f['name']}", errors, seen)
    elif rk == "enum":
        missing = set(w["symbols"]) - set(r["symbols"])
        if missing and "default" not in r:
            errors.append(f"{where}: enum symbols removed without a default: {sorted(missing)}")
    elif rk == "array":
        _check(r["items"], w["items"], rn, wn, f"{path}[]", errors, seen)
    elif rk == "map":
        _check(r["values"], w["values"], rn, wn, f"{path}{{}}", errors, seen)
    elif rk == "fixed" and r.get("size") != w.get("size"):
        errors.append(f"{where}: fixed size changed from {w.get('size')} to {r.get('size')}")
