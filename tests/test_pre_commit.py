"""`.pre-commit-config.yaml`: a commit of badly formatted or lint-failing Python is stopped by the venv's own ruff,
offline. Run in a throwaway git repository with the project's config and `.venv`; mypy's hook is skipped (SKIP=mypy):
it runs the same mypy as `make lint`, on the whole project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args], cwd=repo, check=True)


def _commit(repo: Path, name: str, source: str) -> subprocess.CompletedProcess:
    (repo / name).write_text(source)
    _git(repo, "add", name)
    env = {**os.environ, "SKIP": "mypy", "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")}
    return subprocess.run(
        [str(PRE_COMMIT), "run"], cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    (repo / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    (repo / ".venv").symlink_to(Path(sys.executable).parents[1])
    _git(repo, "add", ".pre-commit-config.yaml", "pyproject.toml")
    return repo


def test_the_config_is_valid():
    result = subprocess.run(
        [str(PRE_COMMIT), "validate-config", ".pre-commit-config.yaml"], cwd=REPO_ROOT, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_clean_code_passes(repo):
    result = _commit(repo, "clean.py", 'MESSAGE = "hello"\n')

    assert result.returncode == 0, result.stdout
    assert "ruff check" in result.stdout


def test_unformatted_code_is_stopped_and_formatted(repo):
    result = _commit(repo, "ugly.py", "MESSAGE   =  'hello'\n")

    assert result.returncode == 1
    assert "files were modified by this hook" in result.stdout
    assert (repo / "ugly.py").read_text() == 'MESSAGE = "hello"\n'


def test_lint_errors_are_stopped(repo):
    result = _commit(repo, "unused.py", "def f():\n    undefined_name()\n")

    assert result.returncode == 1
    assert "F821" in result.stdout  # ruff check: undefined name
