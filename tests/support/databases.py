"""PostgreSQL databases for the tests and the benchmark: where one is (`Database`), and throwaway ones, created on a
server for one use and dropped afterwards (`throwaway_database`; the `throwaway_db` fixture of tests/conftest.py
makes one on the tests' server).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace

import psycopg2
from psycopg2 import sql

# On every server; sessions that create or drop other databases connect to it.
MAINTENANCE_DATABASE = "postgres"


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str = MAINTENANCE_DATABASE

    def named(self, name: str) -> Database:
        """Another database of the same server."""
        return replace(self, name=name)

    def query(self, statement: str | sql.Composable, params: object = None) -> list[tuple]:
        """Run `statement` in a session of its own, each statement committed at once; the rows it returns."""
        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.name
        )
        connection.autocommit = True
        with closing(connection), connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def env(self) -> dict[str, str]:
        """The environment variables that point the backend at this database."""
        return {
            "DB_ENGINE": "postgresql",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_PASSWORD": self.password,
            "DB_NAME": self.name,
        }


def configured_server() -> Database:
    """The tests' PostgreSQL server, as Django's settings name it (`make test`'s TEST_DB_* say where)."""
    from django.conf import settings

    server = settings.DATABASES["default"]
    return Database(server["HOST"], int(server["PORT"]), server["USER"], server["PASSWORD"])


@contextmanager
def throwaway_database(server: Database, prefix: str, template: str | None = None) -> Iterator[Database]:
    """A new database on `server`, named `prefix` plus a random suffix (a copy of `template`, else empty); dropped
    afterwards, sessions still connected to it included."""
    admin = server.named(MAINTENANCE_DATABASE)
    database = server.named(f"{prefix}_{secrets.token_hex(6)}")
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    admin.query(create)
    try:
        yield database
    finally:
        admin.query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))
