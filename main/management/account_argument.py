"""The Bitrix24 account a management command names: its id, or its portal's domain and the Bitrix24 user id.

`manage.py issue_jwt 6f1c...` and `manage.py issue_jwt portal.bitrix24.com 7` name the same kind of thing; so do the
first words of `manage.py b24_call`.
"""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from main.models import Bitrix24Account

USAGE = "an account id, or a portal domain and a Bitrix24 user id (portal.bitrix24.com 7)"


def account_named(words: list[str]) -> tuple[Bitrix24Account, list[str]]:
    """The account the first word (an id) or the first two words (domain, user id) name, and the words after them;
    `CommandError` saying what is wrong otherwise."""
    if not words:
        raise CommandError(f"Name the account: {USAGE}.")
    try:
        account_id = uuid.UUID(words[0])
    except ValueError:
        return _account_of_user(words[0], words[1:2]), words[2:]
    account = Bitrix24Account.objects.filter(pk=account_id).first()
    if account is None:
        raise CommandError(f"No account has the id {account_id}.")
    return account, words[1:]


def _account_of_user(domain: str, user_id: list[str]) -> Bitrix24Account:
    if not (user_id and user_id[0].isascii() and user_id[0].isdigit()):
        raise CommandError(f"{domain!r} is not an account id; after a portal domain give the Bitrix24 user id.")
    account = Bitrix24Account.objects.filter(domain_url=domain, b24_user_id=int(user_id[0])).first()
    if account is None:
        raise CommandError(f"No account of user {user_id[0]} on {domain}.")
    return account
