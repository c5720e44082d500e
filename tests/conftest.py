"""Shared pytest setup.

No test may reach SpiffWorkflow's default script environment: it is plain eval/exec, and jichi replaces it
with the DSL engine. The autouse fixture turns any call into a test failure.
"""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment


def _forbidden(*args: object, **kwargs: object) -> object:
    raise AssertionError("SpiffWorkflow's eval/exec environment was reached")


@pytest.fixture(autouse=True)
def _no_python_script_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TaskDataEnvironment, "evaluate", _forbidden)
    monkeypatch.setattr(TaskDataEnvironment, "execute", _forbidden)
