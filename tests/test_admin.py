"""The Django admin at /api/admin/: who gets in, and what the changelists and the account form show."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from main.models import ApplicationInstallation, Bitrix24Account
from main.statuses import AUTOMATIC

pytestmark = pytest.mark.django_db

ADMIN = {"username": "admin", "email": "admin@example.com", "password": "a-long-admin-password-0123"}
ACCOUNTS_URL = "/api/admin/main/bitrix24account/"
INSTALLATIONS_URL = "/api/admin/main/applicationinstallation/"

# Every column of ../shared/schema.md that the models map, in model order, except the credentials.
ACCOUNT_COLUMNS = [
    "id",
    "b24_user_id",
    "is_b24_user_admin",
    "member_id",
    "is_master_account",
    "domain_url",
    "status",
    "created_at_utc",
    "updated_at_utc",
    "application_version",
    "comment",
    "expires_timestamp",
    "expires_in",
    "current_scope",
]
INSTALLATION_COLUMNS = [
    "id",
    "status",
    "created_at_utc",
    "update_at_utc",
    "bitrix_24_account",
    "contact_person_id",
    "bitrix_24_partner_contact_person_id",
    "bitrix_24_partner_id",
    "external_id",
    "portal_license_family",
    "portal_users_count",
    "comment",
    "status_code",
]


@pytest.fixture
def superuser(monkeypatch) -> User:
    """Made the way `make superuser` makes it: `createsuperuser --noinput` with DJANGO_SUPERUSER_* variables."""
    for key, value in ADMIN.items():
        monkeypatch.setenv(f"DJANGO_SUPERUSER_{key.upper()}", value)
    call_command("createsuperuser", interactive=False, verbosity=0)
    return User.objects.get(username=ADMIN["username"])


@pytest.fixture
def logged_in(client, superuser):
    """The test client after logging in through the admin's login form."""
    response = client.post(
        "/api/admin/login/", {"username": ADMIN["username"], "password": ADMIN["password"], "next": "/api/admin/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/api/admin/")
    return client


@pytest.fixture
def installation(account) -> ApplicationInstallation:
    account.application_token = "account-application-token-0001"
    account.save()
    return ApplicationInstallation.objects.create(
        bitrix_24_account=account,
        status="active",
        portal_license_family="ru_project",
        status_code="L",
        application_token="installation-application-token-0001",
    )


def _column_headers(html: str) -> list[str]:
    return re.findall(r'<th scope="col" class="[^"]*\bcolumn-(\w+)"', html)


def test_superuser_from_createsuperuser_logs_in_and_sees_both_models(logged_in):
    response = logged_in.get("/api/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{ACCOUNTS_URL}"' in html
    assert f'href="{INSTALLATIONS_URL}"' in html


@pytest.mark.parametrize(
    ("url", "columns"),
    [
        pytest.param(ACCOUNTS_URL, ACCOUNT_COLUMNS, id="accounts"),
        pytest.param(INSTALLATIONS_URL, INSTALLATION_COLUMNS, id="installations"),
    ],
)
def test_changelist_shows_every_column_except_credentials(logged_in, installation, url, columns):
    response = logged_in.get(url)

    assert response.status_code == 200
    assert _column_headers(response.content.decode()) == columns


@pytest.mark.parametrize("url", [ACCOUNTS_URL, INSTALLATIONS_URL])
def test_changelist_html_holds_no_token_value(logged_in, installation, url):
    account = installation.bitrix_24_account
    secrets = [account.access_token, account.refresh_token, account.application_token, installation.application_token]

    html = logged_in.get(url).content.decode()

    assert account.domain_url in html  # the row is listed...
    assert [secret for secret in secrets if secret in html] == []  # ...without its credentials


def test_account_change_form_renders_with_the_id_read_only(logged_in, account):
    response = logged_in.get(f"{ACCOUNTS_URL}{account.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<div class="readonly">{account.pk}</div>' in html
    assert 'name="id"' not in html
    assert 'name="domain_url"' in html


def _account_form(account: Bitrix24Account, **changes) -> dict:
    """The account's change form as the admin page posts it, with `changes`."""
    form = {
        "id": str(uuid.uuid4()),  # ignored: the field is read-only
        "b24_user_id": account.b24_user_id,
        "is_b24_user_admin": "on",
        "member_id": account.member_id,
        "is_master_account": "unknown",
        "domain_url": account.domain_url,
        "status": account.status,
        "application_version": account.application_version,
        "comment": "checked by support",
        "access_token": account.access_token,
        "refresh_token": account.refresh_token,
        "expires_timestamp": account.expires_timestamp,
        "expires_in": account.expires_in,
        "current_scope": '["crm", "user", "task"]',
    }
    return {**form, **changes}


def test_saving_the_account_change_form_keeps_the_id(logged_in, account):
    response = logged_in.post(f"{ACCOUNTS_URL}{account.pk}/change/", _account_form(account))

    assert (response.status_code, response["Location"]) == (302, ACCOUNTS_URL)
    saved = Bitrix24Account.objects.get()
    assert saved.pk == account.pk
    assert (saved.comment, saved.is_b24_user_admin, saved.current_scope) == (
        "checked by support",
        True,
        ["crm", "user", "task"],
    )


@pytest.mark.parametrize("url", ["/api/admin/", ACCOUNTS_URL, INSTALLATIONS_URL])
def test_anonymous_visitor_is_redirected_to_the_login_page(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/api/admin/login/?next={url}"


def test_non_staff_user_cannot_log_in_to_the_admin(client):
    User.objects.create_user("visitor", password="a-long-visitor-password-0123")

    response = client.post("/api/admin/login/", {"username": "visitor", "password": "a-long-visitor-password-0123"})

    assert response.status_code == 200  # the login form again, with an error
    assert "staff account" in response.content.decode()
    assert client.get("/api/admin/").status_code == 302


def test_logged_in_non_staff_user_is_sent_to_the_login_page(client):
    client.force_login(User.objects.create_user("visitor"))

    response = client.get(ACCOUNTS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/api/admin/login/")


def test_an_operator_changing_a_status_the_backend_set_makes_it_theirs(logged_in, account):
    Bitrix24Account.objects.filter(pk=account.pk).update(status="blocked", comment=f"{AUTOMATIC}Bitrix24 answered X")
    account.refresh_from_db()

    response = logged_in.post(
        f"{ACCOUNTS_URL}{account.pk}/change/", _account_form(account, status="deleted", comment=account.comment)
    )

    assert response.status_code == 302
    assert Bitrix24Account.objects.values_list("status", "comment").get() == ("deleted", None)
