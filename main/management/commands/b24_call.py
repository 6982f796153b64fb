"""`manage.py b24_call <account id | domain user-id> <method> [json params]`: call the account's portal as that user
through b24pysdk and print Bitrix24's JSON answer.

The call goes through `Bitrix24Account.call_method` like a view's: an expired access token is renewed and the new
pair saved, a moved portal's domain is followed and saved, and an answer that means the grant or the app is gone
moves the statuses. A refusal prints what Bitrix24 said and exits 1; no token is ever printed.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from b24pysdk.errors import BitrixAPIError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from main.bitrix24 import portal_answer
from main.exceptions import ApiError
from main.logging import redact, remember_secrets
from main.management.account_argument import USAGE, account_named


class Command(BaseCommand):
    help = "Call a Bitrix24 REST method as the account and print the JSON answer."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.usage = "%(prog)s (ACCOUNT_ID | DOMAIN USER_ID) METHOD [JSON_PARAMS]"
        parser.add_argument("words", nargs="+", metavar="WORD", help=f"{USAGE}; the REST method; its params (JSON)")

    def handle(self, *args: Any, **options: Any) -> None:
        account, rest = account_named(options["words"])
        method, params = _method_and_params(rest)
        remember_secrets(account.access_token, account.refresh_token)
        try:
            answer = portal_answer(lambda: account.call_method(method, params, timeout=settings.BITRIX24_TIMEOUT))
        except ApiError as error:
            remember_secrets(account.access_token, account.refresh_token)  # renewed ones too
            raise CommandError(redact(_refusal(error))) from None
        self.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2, default=str))


def _method_and_params(words: list[str]) -> tuple[str, dict[str, Any]]:
    if not words or len(words) > 2:
        raise CommandError("Give the REST method (e.g. profile) and, optionally, its params as one JSON object.")
    if len(words) == 1:
        return words[0], {}
    try:
        params = json.loads(words[1])
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise CommandError(f"The params must be a JSON object, e.g. '{{\"ID\": 1}}'; got {words[1]!r}.")
    return words[0], params


def _refusal(error: ApiError) -> str:
    """Our message, and Bitrix24's own description of its error when it gave one."""
    cause = error.__cause__
    if isinstance(cause, BitrixAPIError) and cause.error_description:
        return f"{error.message} ({cause.error_description})"
    return error.message
