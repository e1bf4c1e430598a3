"""The job's Python operators really run in thread mode, inside the Flink JVM."""

from __future__ import annotations

import os

import pytest
from pyflink.common import Types
from pyflink.java_gateway import get_gateway

from common.settings import Settings
from jobs.environment import create_environment

pytestmark = pytest.mark.integration


def test_python_operators_run_inside_the_jvm_process(settings: Settings) -> None:
    env = create_environment(settings)
    pids = env.from_collection([1, 2, 3, 4], type_info=Types.INT()).map(
        lambda _: os.getpid(), output_type=Types.LONG()
    )
    with pids.execute_and_collect() as results:
        seen = set(results)
    jvm_pid = get_gateway().jvm.java.lang.ProcessHandle.current().pid()
    # process mode would run them in separate Python workers with pids of their own
    assert seen == {jvm_pid}
    assert jvm_pid != os.getpid()
