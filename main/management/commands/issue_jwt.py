"""`manage.py issue_jwt <account id | domain user-id>`: a JWT of the backend for the account, to try the API with curl.

Development only: with DEBUG off (BUILD_TARGET=production) it refuses, since a JWT stands for the user without
Bitrix24 vouching for them.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from main.access import Access, read_access
from main.jwts import issue_jwt
from main.management.account_argument import USAGE, account_named


class Command(BaseCommand):
    help = "Print a JWT for the account, for curl (development only)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.usage = "%(prog)s (ACCOUNT_ID | DOMAIN USER_ID) [--minutes MINUTES]"
        parser.add_argument("account", nargs="+", metavar="WORD", help=USAGE)
        parser.add_argument("--minutes", type=int, help="lifetime (default JWT_LIFETIME_MINUTES)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "issue_jwt is for development only and refuses in production (BUILD_TARGET=production, DEBUG off): "
                "a JWT made here stands for the user without Bitrix24 vouching for them."
            )
        account, rest = account_named(options["account"])
        if rest:
            raise CommandError(f"Unexpected arguments: {' '.join(rest)}")
        if read_access({account.pk})[account.pk] is not Access.ALLOWED:
            self.stderr.write(f"Note: {account} may not act (status {account.status}): the API will answer 403.")
        self.stdout.write(issue_jwt(account.pk, options["minutes"]))
