import os

import pytest
import responses

from main.jwts import issue_jwt
from tests.fake_bitrix24 import CLIENT_ID, CLIENT_SECRET, FakeBitrix24

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


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with no cached account access answers."""
    from main.access import recent_answers

    recent_answers.clear()
