"""deploy/local/stack_base.py: port conflicts are named, stop ends only our processes, a start
that fails shows its log."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest


def _service(local: SimpleNamespace, port: int, command: list[str]) -> object:
    svc = local.base.Service("probe", {"PROBE_PORT": port}, lambda: command, ready=lambda: True, timeout_s=5)
    return svc


def test_a_taken_port_is_named_with_its_owner_and_the_variable_to_change(
    local: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        svc = _service(local, port, ["sleep", "30"])
        with pytest.raises(SystemExit):
            svc.up()  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert f"port {port} (PROBE_PORT) is taken by pid" in err
    assert "PROBE_PORT=<port>" in err


def test_down_does_not_kill_a_stranger_whose_pid_is_in_the_pid_file(local: SimpleNamespace) -> None:
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        svc = _service(local, 1, ["sleep", "30"])
        svc.pidfile.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        svc.pidfile.write_text(f"{stranger.pid}\n")  # type: ignore[attr-defined]
        assert svc.pid() is None  # type: ignore[attr-defined]
        svc.down()  # type: ignore[attr-defined]
        time.sleep(0.2)
        assert stranger.poll() is None, "down killed a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_up_is_idempotent_and_down_stops_what_up_started(local: SimpleNamespace, unused_port: int) -> None:
    marker_cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    svc = local.base.Service(
        "probe",
        {"PROBE_PORT": unused_port},
        lambda: [*marker_cmd, svc.marker],
        ready=lambda: True,
        timeout_s=5,
    )
    svc.up()
    pid = svc.pid()
    assert pid is not None
    svc.up()
    assert svc.pid() == pid, "a second up started another process"
    svc.down()
    assert svc.pid() is None
    assert not local.base._alive(pid)


def test_a_process_that_dies_at_start_fails_with_the_end_of_its_log(
    local: SimpleNamespace, unused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = local.base.Service(
        "probe",
        {"PROBE_PORT": unused_port},
        lambda: ["sh", "-c", "echo boom: bad config; exit 3"],
        ready=lambda: False,
        timeout_s=5,
    )
    with pytest.raises(SystemExit):
        svc.up()
    assert "boom: bad config" in capsys.readouterr().err
