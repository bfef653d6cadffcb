"""Settings reject values that cannot work, naming them."""

from __future__ import annotations

import pytest

from agent.errors import UserError
from sandbox import SandboxSettings


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"isolation": "maybe"}, "maybe"),
        ({"cell_timeout_s": 0}, "cell_timeout_s"),
        ({"session_timeout_s": -1.0}, "session_timeout_s"),
        ({"memory_limit_mb": 0}, "memory_limit_mb"),
        ({"max_processes": 2.5}, "max_processes"),
        ({"max_open_files": 10}, "max_open_files"),
        ({"max_output_chars": 5}, "max_output_chars"),
    ],
)
def test_bad_values_raise_a_user_error_naming_them(changes: dict, named: str) -> None:
    with pytest.raises(UserError, match=named):
        SandboxSettings(**changes)


def test_defaults_are_valid_and_limits_may_be_switched_off() -> None:
    settings = SandboxSettings(memory_limit_mb=None, cpu_time_s=None, max_processes=None)
    assert settings.isolation == "auto" and settings.memory_limit_mb is None
