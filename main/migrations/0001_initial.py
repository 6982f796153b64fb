"""Creates the shared tables where they are missing, and leaves them alone where they exist.

The models are unmanaged because the sibling PHP backend may own these tables (`../shared/schema.md`). On an empty
database (PostgreSQL or SQLite) this backend must still run, so the tables are created here from the models,
checking first whether each one is already there. Reversing never drops them.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import main.fields

SHARED_MODELS = ("Bitrix24Account", "ApplicationInstallation")  # in foreign-key order


def create_missing_tables(apps, schema_editor):
    existing = set(schema_editor.connection.introspection.table_names())
    for name in SHARED_MODELS:
        model = apps.get_model("main", name)
        if model._meta.db_table not in existing:
            schema_editor.create_model(model)
            index_columns(schema_editor, model)


def index_columns(schema_editor, model):
    """Index the `db_index` columns, as the shared schema does: `create_model` skips that for unmanaged models."""
    table = model._meta.db_table
    for field in model._meta.local_fields:
        if field.db_index and not field.unique:
            schema_editor.add_index(model, models.Index(fields=[field.name], name=f"{table}_{field.column}_idx"))


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Bitrix24Account",
            fields=[
                (
                    "id",
                    main.fields.SharedUUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("b24_user_id", models.IntegerField()),
                ("is_b24_user_admin", models.BooleanField(default=False)),
                ("member_id", models.CharField(db_index=True, max_length=255)),
                ("is_master_account", models.BooleanField(blank=True, null=True)),
                ("domain_url", models.CharField(db_index=True, max_length=255)),
                ("status", models.CharField(max_length=255)),
                ("application_token", models.CharField(blank=True, max_length=255, null=True)),
                ("created_at_utc", main.fields.UTCDateTimeField(auto_now_add=True)),
                ("updated_at_utc", main.fields.UTCDateTimeField(auto_now=True)),
                ("application_version", models.IntegerField(default=1)),
                ("comment", models.TextField(blank=True, null=True)),
                ("access_token", models.CharField(blank=True, max_length=255, null=True)),
                ("refresh_token", models.CharField(blank=True, max_length=255, null=True)),
                ("expires_timestamp", models.IntegerField(blank=True, db_column="expires", null=True)),
                ("expires_in", models.IntegerField(blank=True, null=True)),
                ("current_scope", models.JSONField(blank=True, null=True)),
            ],
            options={
                "db_table": "bitrix24account",
                "managed": False,
                "constraints": [
                    models.UniqueConstraint(
                        fields=("b24_user_id", "domain_url"), name="bitrix24account_user_domain_uniq"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ApplicationInstallation",
            fields=[
                (
                    "id",
                    main.fields.SharedUUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("status", models.CharField(db_index=True, max_length=255)),
                ("created_at_utc", main.fields.UTCDateTimeField(auto_now_add=True)),
                ("update_at_utc", main.fields.UTCDateTimeField(auto_now=True)),
                (
                    "bitrix_24_account",
                    models.OneToOneField(
                        db_column="bitrix_24_account_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="installation",
                        to="main.bitrix24account",
                    ),
                ),
                ("contact_person_id", main.fields.SharedUUIDField(blank=True, null=True)),
                ("bitrix_24_partner_contact_person_id", main.fields.SharedUUIDField(blank=True, null=True)),
                ("bitrix_24_partner_id", main.fields.SharedUUIDField(blank=True, null=True)),
                ("external_id", models.CharField(blank=True, max_length=255, null=True)),
                ("portal_license_family", models.CharField(db_index=True, max_length=255)),
                ("portal_users_count", models.IntegerField(blank=True, null=True)),
                ("application_token", models.CharField(blank=True, max_length=255, null=True)),
                ("comment", models.TextField(blank=True, null=True)),
                ("status_code", models.JSONField(blank=True, null=True)),
            ],
            options={"db_table": "application_installation", "managed": False},
        ),
        # Not in a transaction of its own: MySQL cannot roll DDL back, and Django refuses DDL in a transaction there.
        # (On PostgreSQL the whole migration is one transaction anyway.)
        migrations.RunPython(create_missing_tables, migrations.RunPython.noop, atomic=False),
    ]
