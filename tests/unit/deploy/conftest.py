"""deploy/local's modules, loaded afresh for each test with a temporary cache and stack home."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

LOCAL = Path(__file__).resolve().parents[3] / "deploy" / "local"
#: stack.py and the modules beside it that it imports; each reads its folders when imported
MODULES = ("stack_base", "stack_fetch", "stack_postgres", "stack_connect", "stack")


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """`local.base`, `local.fetch`, `local.postgres`, `local.connect`, `local.stack`: fresh copies
    whose cache and stack home are temporary folders (the real ones are never touched)."""
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JOURNEY_STACK_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(LOCAL))
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    loaded = {name: importlib.import_module(name) for name in MODULES}
    return SimpleNamespace(**{name.removeprefix("stack_"): module for name, module in loaded.items()})
