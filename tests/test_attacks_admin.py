"""Attacks on the admin (/api/admin/), each a named test: it is never reachable without a staff login, failed logins
are logged without the password, and a username that fails too often from one client address is refused (429) for a
while (django-axes; failures are rows in the database, shared by every worker). Behind TRUSTED_PROXY_COUNT proxies
the client address comes from X-Forwarded-For, and only the entries those proxies appended count.
"""

import datetime as dt
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, override_settings

from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.invariants import assert_json_error, rows

pytestmark = pytest.mark.django_db

LOGIN = "/api/admin/login/"
PASSWORD = "correct-horse-battery-staple-42"
WRONG_PASSWORD = "wrong-password-guess-0001"
MAX_FAILURES = 5  # ADMIN_LOGIN_MAX_FAILURES's default
LOCKOUT_SECONDS = 900  # ADMIN_LOGIN_LOCKOUT_SECONDS's default
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.1"
PROXY = "10.0.0.2"  # the TLS proxy in front: every client behind it has this REMOTE_ADDR


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many logins; speed, not safety


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


def _login(client: Client, username: str, password: str, address: str = CLIENT, forwarded_for: str | None = None):
    """A login form post from `address`, with an X-Forwarded-For header when `forwarded_for` is given."""
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def _through_proxy(client: Client, username: str, password: str, client_address: str, sent: str = ""):
    """A login through the trusted proxy, which appends the address it saw to what the client `sent`."""
    return _login(client, username, password, PROXY, ", ".join(filter(None, [sent, client_address])))


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
    client.force_login(User.objects.create_user("visitor", password=PASSWORD))

    for page in _admin_pages(account):
        response = client.get(page)

        assert response.status_code == 302, page
        assert response["Location"].startswith(f"{LOGIN}?next="), page


def test_staff_user_without_permissions_sees_no_model_and_gets_403_json_on_a_changelist(client, account):
    client.force_login(User.objects.create_user("staff", password=PASSWORD, is_staff=True))

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


# --- Failed logins: logged, then refused --------------------------------------------------------------------

AXES_LOGGER = "axes.handlers.database"


def _fail(client: Client, times: int = MAX_FAILURES, **where) -> list[int]:
    """Wrong passwords for "admin"; the answers' statuses (200: the form again, with its error)."""
    return [_login(client, "admin", WRONG_PASSWORD, **where).status_code for _ in range(times)]


def test_failed_login_is_logged_with_username_and_address_but_not_the_password(client, superuser, caplog):
    response = _login(client, "admin", WRONG_PASSWORD)

    assert response.status_code == 200  # the form again, with its error
    failures = [r.getMessage() for r in caplog.records if r.name == AXES_LOGGER and "login failure" in r.getMessage()]
    assert len(failures) == 1
    assert 'username: "admin"' in failures[0]
    assert f'ip_address: "{CLIENT}"' in failures[0]
    assert WRONG_PASSWORD not in caplog.text
    assert PASSWORD not in caplog.text


def test_failed_login_of_an_unknown_username_is_logged_too(client, db, caplog):
    _login(client, "root", WRONG_PASSWORD)

    assert any(r.name == AXES_LOGGER and 'username: "root"' in r.getMessage() for r in caplog.records)


def test_failures_are_rows_in_the_database_that_every_worker_reads(client, superuser):
    assert _fail(client, 3) == [200] * 3

    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        ("admin", CLIENT, 3)
    ]
    assert WRONG_PASSWORD not in AccessAttempt.objects.get().post_data


def test_five_failures_from_one_address_refuse_even_the_right_password_with_429(client, superuser, caplog):
    assert _fail(client) == [200] * (MAX_FAILURES - 1) + [429]  # the fifth failure locks out

    response = _login(client, "admin", PASSWORD)

    assert assert_json_error(response, 429) == "Too many failed logins; try again later"
    assert response["Retry-After"] == str(LOCKOUT_SECONDS)
    assert not _is_logged_in(client)
    assert any("Locking out" in r.getMessage() for r in caplog.records if r.name == AXES_LOGGER)
    assert PASSWORD not in caplog.text
    assert "Traceback" not in caplog.text


def test_the_right_password_from_another_address_still_logs_in(client, superuser):
    _fail(client)

    assert _login(Client(), "admin", PASSWORD, address=OTHER_CLIENT).status_code == 302
    assert _login(client, "admin", PASSWORD).status_code == 429  # the locked-out address still is


def test_another_username_from_the_locked_out_address_still_logs_in(client, superuser):
    User.objects.create_superuser("other", "other@example.com", PASSWORD)
    _fail(client)

    assert _login(Client(), "other", PASSWORD).status_code == 302


def test_spelling_variants_of_a_username_share_its_count(client, superuser):
    fullwidth_admin = "\uff41\uff44\uff4d\uff49\uff4e"  # NFKC-normalizes to "admin", as the login form does
    for username in ["admin", " admin", fullwidth_admin, "admin ", f" {fullwidth_admin}"]:
        _login(client, username, WRONG_PASSWORD)

    assert _login(client, fullwidth_admin, PASSWORD).status_code == 429
    assert _login(client, "admin", PASSWORD).status_code == 429


def test_a_successful_login_clears_the_count(client, superuser):
    _fail(client, MAX_FAILURES - 1)
    assert _login(client, "admin", PASSWORD).status_code == 302
    client.logout()

    assert _fail(client, MAX_FAILURES - 1) == [200] * (MAX_FAILURES - 1)

    assert _login(client, "admin", PASSWORD).status_code == 302


@override_settings(AXES_FAILURE_LIMIT=2, AXES_COOLOFF_TIME=dt.timedelta(seconds=1))
def test_limit_and_lockout_come_from_the_settings_and_the_lockout_ends(client, superuser):
    _fail(client, 2)

    refused = _login(client, "admin", PASSWORD)
    time.sleep(1.1)

    assert (refused.status_code, refused["Retry-After"]) == (429, "1")
    assert _login(client, "admin", PASSWORD).status_code == 302


# --- The client's address: REMOTE_ADDR, or X-Forwarded-For behind the trusted proxies ------------------------


def test_a_forged_x_forwarded_for_changes_nothing_without_trusted_proxies(client, superuser):
    for n in range(MAX_FAILURES):
        _login(client, "admin", WRONG_PASSWORD, forwarded_for=f"192.0.2.{n}")

    assert _login(client, "admin", PASSWORD, forwarded_for=OTHER_CLIENT).status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [CLIENT]


def test_behind_the_trusted_proxy_one_client_is_locked_out_and_another_still_logs_in(client, superuser, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(MAX_FAILURES):
        _through_proxy(client, "admin", WRONG_PASSWORD, CLIENT)

    assert _through_proxy(client, "admin", PASSWORD, CLIENT).status_code == 429
    assert _through_proxy(Client(), "admin", PASSWORD, OTHER_CLIENT).status_code == 302


def test_behind_the_trusted_proxy_a_forged_x_forwarded_for_changes_nothing(client, superuser, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(MAX_FAILURES):
        _through_proxy(client, "admin", WRONG_PASSWORD, CLIENT, sent=f"192.0.2.{n}")

    # The client claims to be another address; the proxy appends the one it saw.
    assert _through_proxy(client, "admin", PASSWORD, CLIENT, sent=OTHER_CLIENT).status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [CLIENT]


@pytest.mark.parametrize("forwarded_for", ["", "not-an-address", "203.0.113.7:4711", "a, b, c"])
def test_behind_the_trusted_proxy_a_malformed_header_counts_for_the_proxy_and_is_no_error(
    client, superuser, settings, forwarded_for
):
    settings.TRUSTED_PROXY_COUNT = 1

    response = _login(client, "admin", WRONG_PASSWORD, address=PROXY, forwarded_for=forwarded_for)

    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [PROXY]


def test_the_login_page_itself_still_renders(client, db):
    response = client.get(LOGIN)

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_admin_without_the_trailing_slash_redirects_to_the_admin(client):
    response = client.get("/api/admin")

    assert response.status_code == 301
    assert response["Location"] == "/api/admin/"
