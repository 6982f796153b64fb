"""Migrations create the shared tables on an empty database and leave the PHP backend's tables alone, on the
suite's database engine (PostgreSQL under `make test`, MySQL/MariaDB under `make test-mysql`) and on SQLite.

Each test gets its own throwaway database; `manage.py migrate` and the models run in child processes pointed at it
(`tests/support/orm_probe.py`), and raw SQL (psycopg2, MySQLdb, sqlite3) checks what the tables really hold. The PHP
backend's tables come from `tests/support/shared_schema.sql` (PostgreSQL), a copy of `../shared/schema.md` with its
two traps: TIMESTAMP(3) columns without time zone and JSON (not JSONB) columns holding non-NULL values; and from
`tests/support/shared_schema_mysql.sql` (MySQL), the PHP backend's MySQL init script: CHAR(36) UUIDs with hyphens,
DATETIME(3) UTC wall-clock times, and JSON columns that MariaDB keeps as LONGTEXT.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
from contextlib import closing

import pytest

from tests.support.databases import Database
from tests.support.orm_probe import migrate, run_probe
from tests.support.paths import SHARED_SCHEMA_SQL

SHARED_TABLES = ("bitrix24account", "application_installation")
MILLISECOND = dt.timedelta(milliseconds=1)
ENGINE = os.environ["DB_ENGINE"]  # the suite's (tests/environment.py, the Makefile)

# The tables Django creates on an empty database: column -> (kind, nullable), as in schema.md; PHP-only columns are
# absent. COLUMN_TYPES names each kind's type on each engine.
DJANGO_ACCOUNT_COLUMNS = {
    "id": ("uuid", False),
    "b24_user_id": ("int", False),
    "is_b24_user_admin": ("bool", False),
    "member_id": ("varchar", False),
    "is_master_account": ("bool", True),
    "domain_url": ("varchar", False),
    "status": ("varchar", False),
    "application_token": ("varchar", True),
    "created_at_utc": ("timestamp", False),
    "updated_at_utc": ("timestamp", False),
    "application_version": ("int", False),
    "comment": ("text", True),
    "access_token": ("varchar", True),
    "refresh_token": ("varchar", True),
    "expires": ("int", True),
    "expires_in": ("int", True),
    "current_scope": ("json", True),
}
DJANGO_INSTALLATION_COLUMNS = {
    "id": ("uuid", False),
    "status": ("varchar", False),
    "created_at_utc": ("timestamp", False),
    "update_at_utc": ("timestamp", False),
    "bitrix_24_account_id": ("uuid", False),
    "contact_person_id": ("uuid", True),
    "bitrix_24_partner_contact_person_id": ("uuid", True),
    "bitrix_24_partner_id": ("uuid", True),
    "external_id": ("varchar", True),
    "portal_license_family": ("varchar", False),
    "portal_users_count": ("int", True),
    "application_token": ("varchar", True),
    "comment": ("text", True),
    "status_code": ("json", True),
}
COLUMN_TYPES = {
    # Django's own types stand for TIMESTAMP(3) (timestamptz) and JSON (jsonb).
    "postgresql": {
        "uuid": "uuid",
        "int": "int4",
        "bool": "bool",
        "varchar": "varchar",
        "timestamp": "timestamptz",
        "text": "text",
        "json": "jsonb",
    },
    # The PHP backend's init script's types (UUIDs as CHAR(36), like Doctrine), but for Django's DATETIME(6) (it keeps
    # microseconds) and LONGTEXT; MariaDB's JSON is LONGTEXT with a json_valid check (`_expected_columns`).
    "mysql": {
        "uuid": "char(36)",
        "int": "int",
        "bool": "tinyint(1)",
        "varchar": "varchar(255)",
        "timestamp": "datetime(6)",
        "text": "longtext",
        "json": "json",
    },
}

# Rows as the PHP backend writes them: non-NULL JSON everywhere, UTC wall-clock timestamps.
PHP_ACCOUNT_ID = "3f0f7c4e-6a55-4d6b-9a1e-0c8f2b7d1a01"  # has an installation
PHP_NEW_ACCOUNT_ID = "3f0f7c4e-6a55-4d6b-9a1e-0c8f2b7d1a02"  # installs the app later
PHP_INSTALLATION_ID = "9b1d2c3e-4f50-4a6b-8c7d-e8f9a0b1c2d3"
PHP_CONTACT_PERSON_ID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
PHP_ROWS = """
INSERT INTO bitrix24account (
    id, b24_user_id, is_b24_user_admin, member_id, is_master_account, domain_url, status, application_token,
    created_at_utc, updated_at_utc, application_version, comment, access_token, refresh_token, expires, expires_in,
    current_scope, auth_token_access_token, auth_token_refresh_token, auth_token_expires, auth_token_expires_in,
    application_scope_current_scope
) VALUES
    (%(account)s, 7, TRUE, 'php-member-0001', TRUE, 'php-portal.bitrix24.com', 'active', 'php-app-token-0001',
     '2024-05-01 10:20:30.123', '2024-05-02 11:22:33.456', 3, 'written by PHP', 'php-access-token-0001',
     'php-refresh-token-0001', 2000000000, 3600, '["crm","user"]', 'php-access-token-0001',
     'php-refresh-token-0001', 2000000000, 3600, '["crm","user"]'),
    (%(new_account)s, 8, FALSE, 'php-member-0001', FALSE, 'php-portal.bitrix24.com', 'active', NULL,
     '2024-06-01 00:00:00.001', '2024-06-01 00:00:00.001', 3, NULL, 'php-access-token-0002',
     'php-refresh-token-0002', 2000000000, 3600, '["crm"]', NULL, NULL, NULL, NULL, '["crm"]');
INSERT INTO application_installation (
    id, status, created_at_utc, update_at_utc, bitrix_24_account_id, contact_person_id, external_id,
    portal_license_family, portal_users_count, application_token, comment, status_code,
    application_status_status_code
) VALUES
    (%(installation)s, 'active', '2024-05-01 10:20:31.001', '2024-05-03 09:08:07.999', %(account)s,
     %(contact)s, 'crm-42', 'ru_project', 25, 'php-app-token-0001', NULL, '"L"', '"L"');
"""


def _utc_wall_clock_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _env(database: Database) -> dict[str, str]:
    """The environment that points a child process's Django at `database`."""
    # Time zones other than UTC, for the PostgreSQL session (PGTZ) and the process (TZ): a TIMESTAMP written in
    # either would show. (MySQL sessions keep the server's zone, as the PHP backend's do: settings.py.)
    return {**os.environ, **database.env(), "PGTZ": "Asia/Tokyo", "TZ": "Asia/Tokyo"}


def _is_mariadb(db: Database) -> bool:
    return db.is_mysql and "MariaDB" in db.query("SELECT VERSION()")[0][0]


def _expected_columns(db: Database, columns: dict[str, tuple[str, bool]]) -> dict[str, tuple[str, bool]]:
    types = {**COLUMN_TYPES[db.engine], **({"json": "longtext"} if _is_mariadb(db) else {})}
    return {name: (types[kind], nullable) for name, (kind, nullable) in columns.items()}


# The PHP backend's timestamp columns: TIMESTAMP(3) without time zone on PostgreSQL; DATETIME(3) in its MySQL init
# script, and TIMESTAMP(3) too (MySQL converts those between UTC and the session's zone).
PHP_TIMESTAMP_TYPES = {"postgresql": ["TIMESTAMP(3)"], "mysql": ["DATETIME(3)", "TIMESTAMP(3)"]}[ENGINE]


@pytest.fixture(params=PHP_TIMESTAMP_TYPES)
def php_db(request, throwaway_db: Database) -> Database:
    """A database where the PHP backend created the shared tables and wrote rows, before any migration."""
    schema = SHARED_SCHEMA_SQL[throwaway_db.engine].read_text()
    throwaway_db.query(schema.replace("DATETIME(3)", request.param) if throwaway_db.is_mysql else schema)
    throwaway_db.query(
        PHP_ROWS,
        {
            "account": PHP_ACCOUNT_ID,
            "new_account": PHP_NEW_ACCOUNT_ID,
            "installation": PHP_INSTALLATION_ID,
            "contact": PHP_CONTACT_PERSON_ID,
        },
    )
    return throwaway_db


def _columns(db: Database, table: str) -> dict[str, tuple[str, bool]]:
    if db.is_mysql:
        rows = db.query(
            "SELECT column_name, column_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (table,),
        )
        # MariaDB and MySQL before 8.0.19 show a display width (int(11)), which means nothing.
        return {name: (re.sub(r"^(int|bigint)\(\d+\)", r"\1", type_), bool(nullable)) for name, type_, nullable in rows}
    rows = db.query(
        "SELECT column_name, udt_name, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    )
    return {name: (udt, nullable) for name, udt, nullable in rows}


def _constraints(db: Database, table: str) -> set[str]:
    """The table's keys and foreign keys, as PostgreSQL prints them (`UNIQUE (a, b)`, `FOREIGN KEY (a) REFERENCES
    t(id) ...`)."""
    if db.is_mysql:
        rows = db.query(
            "SELECT c.constraint_type, GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), "
            "MAX(k.referenced_table_name), GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position) "
            "FROM information_schema.table_constraints c JOIN information_schema.key_column_usage k "
            "ON k.constraint_schema = c.constraint_schema AND k.table_name = c.table_name "
            "AND k.constraint_name = c.constraint_name "
            "WHERE c.table_schema = DATABASE() AND c.table_name = %s GROUP BY c.constraint_name, c.constraint_type",
            (table,),
        )
        return {
            f"{kind} ({columns})" + (f" REFERENCES {target}({target_columns})" if target else "")
            for kind, columns, target, target_columns in rows
        }
    rows = db.query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass", (table,))
    return {definition for (definition,) in rows}


def _indexed_columns(db: Database, table: str) -> set[tuple[str, ...]]:
    if db.is_mysql:
        rows = db.query(
            "SELECT GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = %s GROUP BY index_name",
            (table,),
        )
        return {tuple(columns.split(",")) for (columns,) in rows}
    rows = db.query(
        "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s::regclass GROUP BY i.indexrelid",
        (table,),
    )
    return {tuple(columns) for (columns,) in rows}


def _snapshot(db: Database) -> dict[str, list[tuple]]:
    """Everything about the shared tables that a migration could change: columns, constraints, indexes, rows."""
    if db.is_mysql:  # SHOW CREATE TABLE has the columns, keys, checks, character set and collation
        return {
            "tables": [db.query(f"SHOW CREATE TABLE {table}") for table in SHARED_TABLES],
            "rows": [db.query(f"SELECT * FROM {table} ORDER BY id") for table in SHARED_TABLES],
        }
    return {
        "columns": db.query(
            "SELECT table_name, column_name, ordinal_position, data_type, datetime_precision, "
            "character_maximum_length, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name IN %s ORDER BY 1, 3",
            (SHARED_TABLES,),
        ),
        "constraints": db.query(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text IN %s ORDER BY 1, 2",
            (SHARED_TABLES,),
        ),
        "indexes": db.query(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename IN %s ORDER BY 1, 2",
            (SHARED_TABLES,),
        ),
        "rows": db.query(
            "SELECT 'bitrix24account', row_to_json(t)::text FROM bitrix24account t "
            "UNION ALL SELECT 'application_installation', row_to_json(t)::text FROM application_installation t "
            "ORDER BY 1, 2"
        ),
    }


def _as_text(db: Database, column: str) -> str:
    """SQL for a JSON column's text, which json.loads() reads back."""
    return column if db.is_mysql else f"{column}::text"


def _values(row: dict[str, dict]) -> dict[str, object]:
    return {name: field["value"] for name, field in row.items()}


def _without_update_time(row: dict[str, dict]) -> dict[str, dict]:
    """The row but its update time, which the saved object holds to the microsecond and TIMESTAMP(3) to the ms."""
    return {name: field for name, field in row.items() if name != "updated_at_utc"}


# --- empty database (PostgreSQL or MySQL/MariaDB, the suite's) -------------------------------------------


def test_migrate_creates_both_tables_with_their_columns_on_an_empty_database(throwaway_db):
    migrate(_env(throwaway_db))

    assert _columns(throwaway_db, "bitrix24account") == _expected_columns(throwaway_db, DJANGO_ACCOUNT_COLUMNS)
    assert _columns(throwaway_db, "application_installation") == _expected_columns(
        throwaway_db, DJANGO_INSTALLATION_COLUMNS
    )


def test_migrate_creates_the_unique_user_per_portal_and_the_one_to_one_foreign_key(throwaway_db):
    migrate(_env(throwaway_db))

    assert "UNIQUE (b24_user_id, domain_url)" in _constraints(throwaway_db, "bitrix24account")
    installation_constraints = _constraints(throwaway_db, "application_installation")
    assert "UNIQUE (bitrix_24_account_id)" in installation_constraints
    assert any(
        definition.startswith("FOREIGN KEY (bitrix_24_account_id) REFERENCES bitrix24account(id)")
        for definition in installation_constraints
    )


def test_migrate_indexes_the_columns_the_shared_schema_indexes(throwaway_db):
    migrate(_env(throwaway_db))

    assert {("member_id",), ("domain_url",)} <= _indexed_columns(throwaway_db, "bitrix24account")
    assert {("status",), ("portal_license_family",)} <= _indexed_columns(throwaway_db, "application_installation")


def test_app_writes_and_reads_an_account_and_its_installation_on_the_migrated_database(throwaway_db):
    migrate(_env(throwaway_db))

    created = run_probe(
        _env(throwaway_db),
        "create-account",
        {"b24_user_id": 7, "member_id": "m-1", "domain_url": "a.bitrix24.com", "status": "L", "current_scope": ["crm"]},
    )
    account_id = created["id"]["value"]
    run_probe(_env(throwaway_db), "create-installation", account_id, {"status": "active", "status_code": "L"})
    account = run_probe(_env(throwaway_db), "account", account_id)
    installation = run_probe(_env(throwaway_db), "installation-of", account_id)

    assert _values(account) == _values(created)
    assert account["current_scope"] == {"value": ["crm"], "type": "list"}
    assert account["created_at_utc"]["value"].endswith("+00:00")
    assert installation["bitrix_24_account"]["value"] == account_id
    assert installation["status_code"] == {"value": "L", "type": "str"}
    assert throwaway_db.query("SELECT count(*) FROM application_installation") == [(1,)]


def test_the_created_tables_keep_4_byte_characters_whatever_the_database_default(throwaway_db):
    if throwaway_db.is_mysql:  # an older MySQL database: 3-byte utf8 by default
        throwaway_db.query(f"ALTER DATABASE `{throwaway_db.name}` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci")
    migrate(_env(throwaway_db))
    comment = "Привет 👋 from the portal"

    created = run_probe(
        _env(throwaway_db),
        "create-account",
        {"b24_user_id": 7, "member_id": "m-1", "domain_url": "a.bitrix24.com", "status": "L", "comment": comment},
    )

    assert run_probe(_env(throwaway_db), "account", created["id"]["value"])["comment"]["value"] == comment
    assert throwaway_db.query("SELECT comment FROM bitrix24account") == [(comment,)]
    if throwaway_db.is_mysql:  # every table the backend created, Django's own too, as the PHP backend's Doctrine does
        collations = throwaway_db.query(
            "SELECT DISTINCT table_collation FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        assert collations == [("utf8mb4_unicode_ci",)]


# --- the PHP backend's pre-existing tables ----------------------------------------------------------------


def test_migrate_leaves_the_php_tables_and_their_rows_exactly_as_they_were(php_db, request):
    before = _snapshot(php_db)

    migrate(_env(php_db))

    assert _snapshot(php_db) == before
    assert ("main", "0001_initial") in php_db.query("SELECT app, name FROM django_migrations")
    # The fixture really is the PHP schema, with its own types.
    columns = _columns(php_db, "bitrix24account")
    if php_db.is_mysql:
        timestamp_type = request.node.callspec.params["php_db"].lower()
        json_type = "longtext" if _is_mariadb(php_db) else "json"
        assert (columns["id"], columns["created_at_utc"]) == (("char(36)", False), (timestamp_type, False))
        assert columns["current_scope"] == (json_type, True)
    else:
        assert columns["created_at_utc"] == ("timestamp", False)
        assert columns["current_scope"] == ("json", True)


def test_models_read_php_rows_with_json_values_and_utc_timestamps(php_db):
    migrate(_env(php_db))

    account = run_probe(_env(php_db), "account", PHP_ACCOUNT_ID)
    installation = run_probe(_env(php_db), "installation-of", PHP_ACCOUNT_ID)

    assert account["current_scope"] == {"value": ["crm", "user"], "type": "list"}
    assert account["created_at_utc"] == {"value": "2024-05-01T10:20:30.123000+00:00", "type": "datetime"}
    assert account["updated_at_utc"] == {"value": "2024-05-02T11:22:33.456000+00:00", "type": "datetime"}
    assert {name: value for name, value in _values(account).items() if not name.endswith("_utc")} == {
        "id": PHP_ACCOUNT_ID,
        "b24_user_id": 7,
        "is_b24_user_admin": True,
        "member_id": "php-member-0001",
        "is_master_account": True,
        "domain_url": "php-portal.bitrix24.com",
        "status": "active",
        "application_token": "php-app-token-0001",
        "application_version": 3,
        "comment": "written by PHP",
        "access_token": "php-access-token-0001",
        "refresh_token": "php-refresh-token-0001",
        "expires_timestamp": 2000000000,
        "expires_in": 3600,
        "current_scope": ["crm", "user"],
    }
    assert installation["status_code"] == {"value": "L", "type": "str"}
    assert installation["update_at_utc"] == {"value": "2024-05-03T09:08:07.999000+00:00", "type": "datetime"}
    assert installation["contact_person_id"]["value"] == PHP_CONTACT_PERSON_ID
    assert installation["portal_license_family"]["value"] == "ru_project"


def test_saving_a_php_row_through_the_model_writes_utc_wall_clock_times_and_valid_json(php_db):
    migrate(_env(php_db))
    before = _utc_wall_clock_now()

    run_probe(
        _env(php_db),
        "update-account",
        PHP_ACCOUNT_ID,
        # The same instant Tokyo calls 12:04:05.678 is 03:04:05.678 UTC.
        {
            "comment": "edited",
            "current_scope": ["crm", "user", "task"],
            "created_at_utc": "2025-01-02T12:04:05.678+09:00",
        },
    )

    after = _utc_wall_clock_now()
    [(created, updated, scope, php_scope, php_token, comment)] = php_db.query(
        f"SELECT created_at_utc, updated_at_utc, {_as_text(php_db, 'current_scope')}, "
        f"{_as_text(php_db, 'application_scope_current_scope')}, auth_token_access_token, comment "
        "FROM bitrix24account WHERE id = %s",
        (PHP_ACCOUNT_ID,),
    )
    assert created == dt.datetime(2025, 1, 2, 3, 4, 5, 678000)
    assert before - MILLISECOND <= updated <= after + MILLISECOND  # auto_now, in UTC wall-clock time
    assert json.loads(scope) == ["crm", "user", "task"]  # a JSON array, not a string holding one
    assert comment == "edited"
    assert (json.loads(php_scope), php_token) == (["crm", "user"], "php-access-token-0001")  # PHP-only, untouched


def test_bearer_request_for_a_php_account_works_and_install_creates_its_installation(php_db):
    migrate(_env(php_db))
    before = _utc_wall_clock_now()

    listed = run_probe(_env(php_db), "request", "GET", "/api/list", PHP_NEW_ACCOUNT_ID)
    installed = run_probe(
        _env(php_db),
        "request",
        "POST",
        "/api/install",
        PHP_NEW_ACCOUNT_ID,
        {"status": "L", "LICENSE_FAMILY": "ru_project"},
    )

    after = _utc_wall_clock_now()
    assert listed == {"status": 200, "body": ["element 1", "element 2", "element 3"]}
    assert installed == {"status": 200, "body": {"message": "Installation successful"}}
    [(installation_id, status_code, license_family, created, updated, php_status_code)] = php_db.query(
        f"SELECT id, {_as_text(php_db, 'status_code')}, portal_license_family, created_at_utc, update_at_utc, "
        "application_status_status_code FROM application_installation WHERE bitrix_24_account_id = %s",
        (PHP_NEW_ACCOUNT_ID,),
    )
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", str(installation_id))
    assert (json.loads(status_code), license_family) == ("L", "ru_project")  # a JSON string
    assert before - MILLISECOND <= created <= updated <= after + MILLISECOND
    assert php_status_code is None


def test_placement_updates_a_php_account_and_a_repeat_reads_it_back_as_the_orm_does(php_db):
    # The placement updates the PHP backend's row (found by member_id and user id) and reads it back, from the PHP
    # schema's TIMESTAMP(3) and JSON columns too.
    migrate(_env(php_db))

    result = run_probe(_env(php_db), "placements", "php-portal.bitrix24.com", "php-member-0001", "7")

    assert result["app_info_calls"] == 1  # the repeat was answered from the database
    assert result["repeat"] == result["stored"]
    assert _without_update_time(result["first"]) == _without_update_time(result["stored"])
    stored = _values(result["stored"])
    assert stored["id"] == PHP_ACCOUNT_ID
    assert stored["access_token"] != "php-access-token-0001"  # the new token was saved
    assert stored["current_scope"] == ["crm", "user"]
    assert result["stored"]["created_at_utc"] == {"value": "2024-05-01T10:20:30.123000+00:00", "type": "datetime"}
    assert (stored["comment"], stored["application_token"]) == ("written by PHP", "php-app-token-0001")


def _sqlite_indexes(connection: sqlite3.Connection, table: str) -> set[tuple[tuple[str, ...], bool]]:
    """(columns, unique) of each index on the table."""
    return {
        (tuple(column for _, _, column in connection.execute(f"PRAGMA index_info('{name}')")), bool(unique))
        for _, name, unique, *_ in connection.execute(f"PRAGMA index_list('{table}')")
    }


# --- empty SQLite database --------------------------------------------------------------------------------


def test_migrate_creates_the_tables_on_an_empty_sqlite_database_and_an_account_round_trips(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DB_ENGINE": "sqlite", "SQLITE_PATH": str(database)}

    migrate(env)
    created = run_probe(
        env,
        "create-account",
        {"b24_user_id": 7, "member_id": "m-1", "domain_url": "a.bitrix24.com", "status": "L", "current_scope": ["crm"]},
    )
    account = run_probe(env, "account", created["id"]["value"])

    with closing(sqlite3.connect(database)) as connection:
        account_columns = {row[1] for row in connection.execute("PRAGMA table_info(bitrix24account)")}
        installation_columns = {row[1] for row in connection.execute("PRAGMA table_info(application_installation)")}
        account_indexes = _sqlite_indexes(connection, "bitrix24account")
    assert account_columns == set(DJANGO_ACCOUNT_COLUMNS)
    assert installation_columns == set(DJANGO_INSTALLATION_COLUMNS)
    assert {(("b24_user_id", "domain_url"), True), (("member_id",), False)} <= account_indexes
    assert _values(account) == _values(created)
    assert account["current_scope"] == {"value": ["crm"], "type": "list"}
    assert account["created_at_utc"]["value"].endswith("+00:00")


def test_placement_first_call_and_repeat_work_on_the_embedded_sqlite_default(tmp_path):
    # `make run` serves from SQLite: the placement path's own SQL must work there too.
    env = {**os.environ, "DB_ENGINE": "sqlite", "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    migrate(env)

    result = run_probe(env, "placements", "sqlite-portal.bitrix24.com", "sqlite-member-0001", "3")

    assert result["app_info_calls"] == 1
    assert result["first"] == result["repeat"] == result["stored"]
    assert _values(result["stored"])["current_scope"] == ["crm", "user"]
    assert result["stored"]["created_at_utc"]["value"].endswith("+00:00")
