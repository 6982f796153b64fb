"""Uses the backend's models and views against another database, in a child process.

The migration tests point Django at a throwaway database through the DB_* environment variables, which only a
fresh process can do (settings are read once). The child runs `python -m tests.support.orm_probe ACTION ARG...` and
prints one JSON document; `run_probe()` is the parent's side.

Model rows are printed as `{field: {"value": ..., "type": <Python type name>}}`, datetimes in ISO format, so a test
sees exactly what the model holds (an aware UTC datetime prints with `+00:00`, a naive one without).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from typing import Any

from tests.support.paths import REPO_ROOT


def _run_python(env: dict[str, str], *argv: str) -> str:
    """`python ARGV...` in the repository with `env`; its output. Fails the test when it fails."""
    result = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def migrate(env: dict[str, str]) -> None:
    """`manage.py migrate` in a child process with `env` (a throwaway database)."""
    _run_python(env, "manage.py", "migrate", "--noinput")


def run_probe(env: dict[str, str], action: str, *args: Any) -> Any:
    """Run ACTION in a child Django process with `env`; its JSON answer. Non-string args are sent as JSON."""
    argv = [arg if isinstance(arg, str) else json.dumps(arg) for arg in args]
    output = _run_python(env, "-m", "tests.support.orm_probe", action, *argv)
    return json.loads(output.strip().splitlines()[-1])


# --- the child's side ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _describe(obj) -> dict[str, dict[str, Any]]:
    return {
        field.name: {"value": _jsonable(value), "type": type(value).__name__}
        for field in obj._meta.concrete_fields
        for value in [field.value_from_object(obj)]
    }


def _parse(model, fields: dict[str, Any]) -> dict[str, Any]:
    """JSON values -> model values (ISO datetimes with their offset, UUID strings) through each field."""
    return {name: model._meta.get_field(name).to_python(value) for name, value in fields.items()}


def _create_account(fields: str) -> dict:
    from main.models import Bitrix24Account

    return _describe(Bitrix24Account.objects.create(**_parse(Bitrix24Account, json.loads(fields))))


def _create_installation(account_id: str, fields: str) -> dict:
    from main.models import ApplicationInstallation

    values = _parse(ApplicationInstallation, json.loads(fields))
    return _describe(ApplicationInstallation.objects.create(bitrix_24_account_id=account_id, **values))


def _account(account_id: str) -> dict:
    from main.models import Bitrix24Account

    return _describe(Bitrix24Account.objects.get(pk=account_id))


def _installation_of(account_id: str) -> dict:
    from main.models import Bitrix24Account

    return _describe(Bitrix24Account.objects.get(pk=account_id).installation)


def _update_account(account_id: str, fields: str) -> dict:
    """Change fields through the model and `save()`, then read the row back."""
    from main.models import Bitrix24Account

    account = Bitrix24Account.objects.get(pk=account_id)
    for name, value in _parse(Bitrix24Account, json.loads(fields)).items():
        setattr(account, name, value)
    account.save()
    return _account(account_id)


def _request(method: str, path: str, account_id: str, body: str = "") -> dict:
    """An API request with a Bearer JWT of the account and an optional JSON body, through Django's test client,
    against a fake Bitrix24 where the account is an administrator of its portal."""
    import responses
    from django.test import Client

    from main.jwts import issue_jwt
    from main.models import Bitrix24Account
    from tests.support.fake_bitrix24 import FakeBitrix24

    fake = FakeBitrix24()
    fake.make_admin(fake.grant_behind(Bitrix24Account.objects.get(pk=account_id)))
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {issue_jwt(uuid.UUID(account_id))}")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        response = client.generic(method, path, body, content_type="application/json")
    return {"status": response.status_code, "body": response.json()}


def _placements(domain: str, member_id: str, user_id: str) -> dict:
    """A new access token of this portal user, sent as placement data twice (first call, repeat) against a fake
    Bitrix24: the accounts each call returned, the app.info calls made, and the row as the ORM reads it after."""
    import responses

    from main.placement_data import parse_placement_data
    from main.placements import account_for_placement
    from tests.support.fake_bitrix24 import FakeBitrix24, Portal

    fake = FakeBitrix24()
    placement = parse_placement_data(fake.placement(fake.grant(Portal(domain, member_id), user_id=int(user_id))))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        first, repeat = (account_for_placement(placement) for _ in range(2))
        calls = fake.calls_to("/rest/app.info/")
    return {
        "first": _describe(first),
        "repeat": _describe(repeat),
        "app_info_calls": calls,
        "stored": _account(str(first.pk)),
    }


ACTIONS = {
    "create-account": _create_account,
    "create-installation": _create_installation,
    "account": _account,
    "installation-of": _installation_of,
    "update-account": _update_account,
    "request": _request,
    "placements": _placements,
}


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    django.setup()
    action, *args = sys.argv[1:]
    print(json.dumps(ACTIONS[action](*args)))


if __name__ == "__main__":
    main()
