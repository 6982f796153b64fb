"""Where the repository is, for tests that run its commands or read its files."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The PHP backend's shared tables, as it creates them on each database engine (DB_ENGINE's names).
SHARED_SCHEMA_SQL = {
    "postgresql": Path(__file__).with_name("shared_schema.sql"),
    "mysql": Path(__file__).with_name("shared_schema_mysql.sql"),
}
