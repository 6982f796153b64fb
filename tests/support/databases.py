"""Databases for the tests and the benchmark, on PostgreSQL or MySQL/MariaDB (`engine`, as DB_ENGINE names them):
where one is (`Database`), and throwaway ones, created on a server for one use and dropped afterwards
(`throwaway_database`; the `throwaway_db` fixture of tests/conftest.py makes one on the tests' server).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace

import psycopg2
from psycopg2 import sql

# On every PostgreSQL server; sessions that create or drop other databases connect to it. MySQL needs none.
MAINTENANCE_DATABASE = "postgres"


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str = MAINTENANCE_DATABASE
    engine: str = "postgresql"  # or "mysql"

    def named(self, name: str) -> Database:
        """Another database of the same server."""
        return replace(self, name=name)

    @property
    def is_mysql(self) -> bool:
        return self.engine == "mysql"

    def query(self, statement: str | sql.Composable, params: object = None) -> list[tuple]:
        """Run `statement` (one or more statements) in a session of its own, each statement committed at once; the
        rows the last one returns."""
        if self.is_mysql:
            # Only `make test-mysql` installs the MySQL driver (requirements-mysql.txt).
            import MySQLdb
            from MySQLdb.constants import CLIENT

            # Several statements at once, like psycopg2; utf8mb4 and autocommit, like the backend's connections.
            connection = MySQLdb.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                database=self.name,
                charset="utf8mb4",
                autocommit=True,
                client_flag=CLIENT.MULTI_STATEMENTS,
            )
        else:
            connection = psycopg2.connect(
                host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.name
            )
            connection.autocommit = True
        with closing(connection), closing(connection.cursor()) as cursor:
            cursor.execute(statement, params)
            rows = list(cursor.fetchall()) if cursor.description else []
            while self.is_mysql and cursor.nextset():
                rows = list(cursor.fetchall()) if cursor.description else []
            return rows

    def env(self) -> dict[str, str]:
        """The environment variables that point the backend at this database."""
        return {
            "DB_ENGINE": self.engine,
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_PASSWORD": self.password,
            "DB_NAME": self.name,
        }


def configured_server() -> Database:
    """The tests' database server, as Django's settings name it (`make test`'s and `make test-mysql`'s TEST_DB_*
    say where)."""
    from django.conf import settings
    from django.db import connection

    server = settings.DATABASES["default"]
    engine = "mysql" if connection.vendor == "mysql" else "postgresql"
    return Database(server["HOST"], int(server["PORT"]), server["USER"], server["PASSWORD"], engine=engine)


@contextmanager
def throwaway_database(server: Database, prefix: str, template: str | None = None) -> Iterator[Database]:
    """A new database on `server`, named `prefix` plus a random suffix (a copy of `template`, else empty; a template
    only on PostgreSQL); dropped afterwards, sessions still connected to it included."""
    database = server.named(f"{prefix}_{secrets.token_hex(6)}")
    if server.is_mysql:
        assert template is None, "MySQL has no template databases"
        admin = server.named("")
        admin.query(f"CREATE DATABASE `{database.name}`")  # the server's default character set, as an operator's
        drop = f"DROP DATABASE IF EXISTS `{database.name}`"  # waits only for transactions open on its tables
    else:
        admin = server.named(MAINTENANCE_DATABASE)
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        admin.query(create)
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
    try:
        yield database
    finally:
        admin.query(drop)
