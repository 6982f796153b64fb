"""Django's MySQL backend, driven by mysqlclient, whose tables are utf8mb4 whatever the database's default.

MySQL and MariaDB give a new table the database's default character set, which on older servers is latin1 or
3-byte utf8: a 4-byte character (an emoji in a comment) would then fail on the utf8mb4 connection. Every table this
backend creates, the shared ones of migration 0001 and Django's own, names its character set and collation: those
the PHP backend's Doctrine gives its tables (utf8mb4_unicode_ci exists on MySQL and MariaDB alike).
"""

from django.db.backends.mysql import base, schema

TABLE_OPTIONS = "DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    sql_create_table = f"CREATE TABLE %(table)s (%(definition)s) {TABLE_OPTIONS}"


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
