"""Attacks on the admin (/api/admin/), each a named test: it is never reachable without a staff login, failed logins
are logged without the password, and a username that fails too often from one address is refused (429) for a while.
"""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, override_settings

from main.admin_login import lockout_seconds, max_failures
from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.invariants import assert_json_error, rows

pytestmark = pytest.mark.django_db

LOGIN = "/api/admin/login/"
PASSWORD = "correct-horse-battery-staple-42"
WRONG_PASSWORD = "wrong-password-guess-0001"


@pytest.fixture(autouse=True)
def _fresh_failure_counts(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many logins; speed, not safety
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


def _login(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _is_logged_in(client: Client) -> bool:
    return client.get("/api/admin/").status_code == 200


# --- Never reachable without a staff login ---------------------------------------------------------------


def _admin_pages(account: Bitrix24Account) -> list[str]:
    installation = ApplicationInstallation.objects.create(bitrix_24_account=account, status="active")
    pages = ["/api/admin/", "/api/admin/auth/user/", "/api/admin/password_change/", "/api/admin/jsi18n/"]
    for model, pk in (("bitrix24account", account.pk), ("applicationinstallation", installation.pk)):
        base = f"/api/admin/main/{model}/"
        pages += [base, f"{base}add/", f"{base}{pk}/change/", f"{base}{pk}/delete/", f"{base}{pk}/history/"]
    return pages


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_every_admin_page_redirects_an_anonymous_visitor_to_the_login(client, account, debug):
    with override_settings(DEBUG=debug):
        for page in _admin_pages(account):
            response = client.get(page)

            assert response.status_code == 302, page
            assert response["Location"].startswith(f"{LOGIN}?next="), page
            assert account.access_token not in response.content.decode()


def test_anonymous_posts_to_admin_forms_change_nothing(client, account):
    pages = _admin_pages(account)
    before = rows()

    for page in pages:
        response = client.post(page, {"status": "blocked", "post": "yes", "domain_url": "evil.example"})

        assert response.status_code == 302, page
    assert rows() == before


def test_logged_in_user_without_staff_status_is_sent_to_the_login(client, account):
    User.objects.create_user("visitor", password=PASSWORD)
    client.login(username="visitor", password=PASSWORD)

    for page in _admin_pages(account):
        response = client.get(page)

        assert response.status_code == 302, page
        assert response["Location"].startswith(f"{LOGIN}?next="), page


def test_staff_user_without_permissions_sees_no_model_and_gets_403_json_on_a_changelist(client, account):
    User.objects.create_user("staff", password=PASSWORD, is_staff=True)
    client.login(username="staff", password=PASSWORD)

    index = client.get("/api/admin/")
    changelist = client.get("/api/admin/main/bitrix24account/")

    assert index.status_code == 200
    assert b"bitrix24account" not in index.content
    assert_json_error(changelist, 403)


def test_login_without_a_csrf_token_is_refused(superuser):
    client = Client(enforce_csrf_checks=True)

    response = _login(client, "admin", PASSWORD)

    assert_json_error(response, 403)
    assert not _is_logged_in(client)


# --- Failed logins: logged, then throttled ---------------------------------------------------------------


def test_failed_login_is_logged_with_username_and_address_but_not_the_password(client, superuser, caplog):
    response = _login(client, "admin", WRONG_PASSWORD)

    assert response.status_code == 200  # the form again, with its error
    failures = [r for r in caplog.records if r.name == "main.admin_login"]
    assert len(failures) == 1
    assert "'admin'" in failures[0].getMessage()
    assert "203.0.113.7" in failures[0].getMessage()
    assert WRONG_PASSWORD not in caplog.text
    assert PASSWORD not in caplog.text


def test_failed_login_of_an_unknown_username_is_logged_too(client, db, caplog):
    _login(client, "root", WRONG_PASSWORD)

    assert any(r.name == "main.admin_login" and "'root'" in r.getMessage() for r in caplog.records)


def test_too_many_failures_refuse_even_the_right_password_with_429(client, superuser, caplog):
    for _ in range(max_failures()):
        assert _login(client, "admin", WRONG_PASSWORD).status_code == 200

    response = _login(client, "admin", PASSWORD)

    assert assert_json_error(response, 429) == "Too many failed logins; try again later"
    assert response["Retry-After"] == str(lockout_seconds())
    assert not _is_logged_in(client)
    assert any("too many failures" in r.getMessage() for r in caplog.records if r.name == "main.admin_login")
    assert PASSWORD not in caplog.text


def test_throttle_is_per_username_and_address(client, superuser):
    User.objects.create_superuser("other", "other@example.com", PASSWORD)
    for _ in range(max_failures()):
        _login(client, "admin", WRONG_PASSWORD)

    assert _login(client, "admin", PASSWORD).status_code == 429
    assert _login(Client(), "admin", PASSWORD, address="198.51.100.1").status_code == 302
    assert _login(Client(), "other", PASSWORD).status_code == 302


def test_spelling_variants_of_a_username_share_its_count(client, superuser):
    fullwidth_admin = "\uff41\uff44\uff4d\uff49\uff4e"  # NFKC-normalizes to "admin", as the login form does
    for username in ["admin", " admin", fullwidth_admin] * max_failures():
        _login(client, username, WRONG_PASSWORD)

    assert _login(client, fullwidth_admin, PASSWORD).status_code == 429
    assert _login(client, "admin", PASSWORD).status_code == 429


def test_a_successful_login_clears_the_count(client, superuser):
    for _ in range(max_failures() - 1):
        _login(client, "admin", WRONG_PASSWORD)
    assert _login(client, "admin", PASSWORD).status_code == 302
    client.logout()

    for _ in range(max_failures() - 1):
        _login(client, "admin", WRONG_PASSWORD)

    assert _login(client, "admin", PASSWORD).status_code == 302


@override_settings(ADMIN_LOGIN_MAX_FAILURES=2, ADMIN_LOGIN_LOCKOUT_SECONDS=60)
def test_limit_and_lockout_come_from_the_settings(client, superuser):
    _login(client, "admin", WRONG_PASSWORD)
    _login(client, "admin", WRONG_PASSWORD)

    response = _login(client, "admin", PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"] == "60"


def test_the_login_page_itself_still_renders(client, db):
    response = client.get(LOGIN)

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_admin_without_the_trailing_slash_redirects_to_the_admin(client):
    response = client.get("/api/admin")

    assert response.status_code == 301
    assert response["Location"] == "/api/admin/"
