"""The fault suite's summary: one row per fault, printed at the end of the run (and written to
.stack/faults/last.json) for docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import REPO
from tests.faults.harness import HEADER, OUTCOMES, dumps


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not OUTCOMES:
        return
    terminalreporter.section("faults: against simulate's action ids over the same backlog")
    terminalreporter.write_line(HEADER)
    for o in OUTCOMES:
        terminalreporter.write_line(o.row())
    out = Path(REPO / ".stack" / "faults")
    out.mkdir(parents=True, exist_ok=True)
    (out / "last.json").write_text(dumps(OUTCOMES))
