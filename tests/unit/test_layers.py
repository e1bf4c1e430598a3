"""Layers point down: settings and event types at the bottom, then connectors and the engine, then
the jobs, then the CLI. Checked on the imports of every module, so that a shortcut upwards fails
here instead of turning into an import cycle later."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: package -> the project's packages it may import (besides itself)
MAY_IMPORT: dict[str, set[str]] = {
    "common": set(),
    "connectors": {"common"},
    "journeys": {"common"},
    "jobs": {"common", "connectors", "journeys"},
    "senders": {"common", "connectors", "journeys"},
    "benchmarks": {"common", "connectors", "journeys", "jobs"},
    "journeyctl": {"common", "connectors", "journeys", "jobs", "benchmarks", "senders"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO)): sorted(_imports(path) - MAY_IMPORT[package] - {package})
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {k: v for k, v in wrong.items() if v} == {}
