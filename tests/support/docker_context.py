"""The Docker build context as `.dockerignore` shapes it, for tests that run what the image would contain.

There is no Docker engine here, so the production test copies these files and runs the image's commands on them.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from pathlib import Path

from tests.support.paths import REPO_ROOT


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def is_ignored(relative_path: str, patterns: list[str]) -> bool:
    """Docker's matching for the two forms `.dockerignore` uses: `**/GLOB` matches a path component at any depth;
    any other pattern is a path from the context root, and also excludes everything below a directory it matches.
    """
    parts = relative_path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
            continue
        pattern_parts = pattern.split("/")
        if len(parts) >= len(pattern_parts) and all(map(fnmatch.fnmatchcase, parts, pattern_parts)):
            return True
    return False


def copy_build_context(destination: Path) -> None:
    """Copy the files the Dockerfile's `COPY . .` would receive into `destination`."""
    patterns = dockerignore_patterns()
    for directory, subdirectories, files in os.walk(REPO_ROOT):
        relative_dir = Path(directory).relative_to(REPO_ROOT)
        subdirectories[:] = [d for d in subdirectories if not is_ignored((relative_dir / d).as_posix(), patterns)]
        for name in files:
            relative = relative_dir / name
            if not is_ignored(relative.as_posix(), patterns):
                (destination / relative_dir).mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / relative, destination / relative)


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's instructions (continuation lines joined) of each stage, by stage name."""
    text = re.sub(r"\\\n\s*", " ", (REPO_ROOT / "Dockerfile").read_text())
    stages: dict[str, list[str]] = {}
    for line in text.splitlines():
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            current = stages.setdefault(match.group(1), [line])
        elif line.strip() and not line.startswith("#"):
            current.append(line.strip())
    return stages
