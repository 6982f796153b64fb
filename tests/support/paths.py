"""Where the repository is, for tests that run its commands or read its files."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The PHP backend's shared tables, as it creates them.
SHARED_SCHEMA_SQL = Path(__file__).with_name("shared_schema.sql")
