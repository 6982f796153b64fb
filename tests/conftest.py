import io
import logging
import os
import secrets
from collections.abc import Iterator

import pytest
import responses

from main.jwts import issue_jwt
from tests.support.databases import Database, configured_server, throwaway_database
from tests.support.fake_bitrix24 import CLIENT_ID, CLIENT_SECRET, PORTAL_A, FakeBitrix24, Grant
from tests.support.rabbitmq import VirtualHost

assert (os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]) == (CLIENT_ID, CLIENT_SECRET)


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE']} {db.get('HOST', '')}:{db.get('PORT', '')}/{db['NAME']}"


@pytest.fixture
def fake_b24():
    """A fake Bitrix24 answering every outbound HTTPS request of the test."""
    fake = FakeBitrix24()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


@pytest.fixture
def installed(client, fake_b24: FakeBitrix24) -> Grant:
    """The app installed on portal A by its admin (user 1; the installation `new`), and that admin's grant."""
    grant = fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=1))
    assert client.post("/api/install", fake_b24.placement(grant), content_type="application/json").status_code == 200
    return grant


@pytest.fixture
def development(settings) -> None:
    settings.DEBUG = True  # pytest-django turns DEBUG off; BUILD_TARGET=dev (`make run`, `make dev-python`) has it on


@pytest.fixture
def throwaway_db() -> Iterator[Database]:
    """A new, empty database on the tests' database server (PostgreSQL or MySQL), dropped after the test."""
    with throwaway_database(configured_server(), "test_throwaway") as database:
        yield database


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[VirtualHost]:
    """This test run's virtual host on the tests' RabbitMQ (CELERY_BROKER_URL names it), deleted afterwards."""
    from django.conf import settings

    vhost = VirtualHost(settings.CELERY_BROKER_URL)
    vhost.create()
    yield vhost
    vhost.delete()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The project's own stdout handler (filter and formatter as configured), writing into a buffer at DEBUG."""
    root = logging.getLogger()
    (handler,) = (h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.get_name() == "stdout")
    buffer = io.StringIO()
    old_stream, old_level = handler.setStream(buffer), root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    handler.setStream(old_stream)
    root.setLevel(old_level)


@pytest.fixture
def account(db):
    from main.models import Bitrix24Account

    return Bitrix24Account.objects.create(
        b24_user_id=7,
        domain_url="portal-a.bitrix24.com",
        member_id="member-a-0000000000000000000000000001",
        status="active",
        access_token="stored-access-token-0001",
        refresh_token="stored-refresh-token-0001",
        expires_timestamp=2_000_000_000,
        expires_in=3600,
        current_scope=["crm", "user"],
    )


@pytest.fixture
def bearer(account):
    """Headers that authenticate as `account` with a fresh JWT."""
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_jwt(account.pk)}"}


@pytest.fixture
def portal_admin(fake_b24, account):
    """`account` as an administrator of its portal, whose stored tokens the fake Bitrix24 issued."""
    fake_b24.make_admin(fake_b24.grant_behind(account))
    return account


@pytest.fixture(autouse=True)
def _empty_shared_tables_after_committing_tests(request) -> Iterator[None]:
    """Django's flush after a test that commits (`django_db(transaction=True)`) leaves the unmanaged, shared tables
    alone: they are emptied here, so no row reaches the next test."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        from main.models import ApplicationInstallation, Bitrix24Account

        ApplicationInstallation.objects.all().delete()
        Bitrix24Account.objects.all().delete()


@pytest.fixture(autouse=True)
def _fresh_access_answers():
    """Each test starts with no cached account access answers."""
    from main.access import recent_answers

    recent_answers.clear()


@pytest.fixture
def leaky_request(account):
    """POSTs to tests/support/failing_views.py's leaky view with placement credentials and a Bearer JWT; returns
    the response and the secrets it carried."""
    from django.conf import settings

    def send(client):
        token = issue_jwt(account.pk)
        placement = {"AUTH_ID": secrets.token_hex(35), "REFRESH_ID": secrets.token_hex(35)}
        response = client.post(
            "/leaky", placement, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        return response, (settings.JWT_SECRET, CLIENT_SECRET, *placement.values(), token)

    return send
