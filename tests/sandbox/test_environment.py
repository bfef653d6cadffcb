"""The kernel's environment is an allow-list with credentials removed."""

from __future__ import annotations

from pathlib import Path

from sandbox.environment import kernel_environment, scrub_environment, state_folders
from sandbox.settings import DEFAULT_ENV_DENY, DEFAULT_ENV_KEEP

HOST = {
    "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "PYTHONPATH": "/p", "CUDA_VISIBLE_DEVICES": "0",
    "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1",
    "FAKE_API_KEY": "k", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "u", "ANTHROPIC_API_KEY": "k", "HF_TOKEN": "t",
    "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "r", "AZURE_CLIENT_SECRET": "s", "GOOGLE_APPLICATION_CREDENTIALS": "f",
    "GITHUB_TOKEN": "t", "DB_PASSWORD": "p", "SSH_AUTH_SOCK": "/s", "HOME": "/root", "USER": "root",
}


def test_scrub_keeps_only_the_allow_list() -> None:
    kept = scrub_environment(HOST, DEFAULT_ENV_KEEP, DEFAULT_ENV_DENY)
    assert set(kept) == {"PATH", "LANG", "LC_ALL", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "HF_HUB_OFFLINE"}


def test_deny_patterns_win_over_keep_patterns() -> None:
    kept = scrub_environment(HOST, ("*",), DEFAULT_ENV_DENY)
    for secret in ("FAKE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "HF_TOKEN",
                   "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AZURE_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS",
                   "GITHUB_TOKEN", "DB_PASSWORD", "SSH_AUTH_SOCK"):
        assert secret not in kept
    assert kept["USER"] == "root"


def test_patterns_ignore_case() -> None:
    assert scrub_environment({"my_api_key": "k", "path": "/bin"}, ("*",), ("*API_KEY*",)) == {"path": "/bin"}


def test_kernel_environment_points_home_and_temp_into_the_state_folder(tmp_path: Path) -> None:
    env = kernel_environment(HOST, DEFAULT_ENV_KEEP, DEFAULT_ENV_DENY, {"OMP_NUM_THREADS": "1"}, tmp_path)
    folders = state_folders(tmp_path)
    assert env["HOME"] == str(folders["home"]) and env["TMPDIR"] == str(folders["tmp"])
    assert env["IPYTHONDIR"] == str(folders["ipython"]) and env["MPLCONFIGDIR"] == str(folders["matplotlib"])
    assert env["OMP_NUM_THREADS"] == "1", "extra_env is applied last"
    assert "FAKE_API_KEY" not in env
