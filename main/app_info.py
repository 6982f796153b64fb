"""Asking Bitrix24 who issued an access token (`app.info` on its OAuth server), and whether that is the placement's
portal, user and app.

Without the three checks (member_id, domain, client_id) a valid token of one portal, or of another app, could claim
any other account.
"""

from __future__ import annotations

from http import HTTPStatus

from b24pysdk.api.responses import B24AppInfoResult
from b24pysdk.credentials import OAuthPlacementData
from b24pysdk.errors import (
    BitrixAPIError,
    BitrixRequestError,
    BitrixRequestTimeout,
    BitrixResponseError,
    BitrixValidationError,
)
from django.conf import settings

from main.b24sdk import VerificationToken, bitrix_app
from main.exceptions import Bitrix24Timeout, Bitrix24Unavailable, PlacementRejected


def verified_app_info(placement: OAuthPlacementData) -> B24AppInfoResult:
    """`app.info` for the placement's access token, once it names the placement's portal and this app.

    `PlacementRejected` when Bitrix24 refuses the token or names another portal or app; `Bitrix24Timeout` or
    `Bitrix24Unavailable` when it cannot be asked.
    """
    app = bitrix_app()
    token = VerificationToken.from_oauth_placement_data(placement, app)
    try:
        timeout, max_retries = settings.BITRIX24_TIMEOUT, settings.BITRIX24_MAX_RETRIES
        app_info = token.get_app_info(timeout=timeout, max_retries=max_retries).result
    except BitrixRequestTimeout as error:
        raise Bitrix24Timeout() from error
    except BitrixRequestError as error:
        raise Bitrix24Unavailable() from error
    except BitrixAPIError as error:
        # A 4xx judges the token; 429 (rate limit) and 5xx say nothing about it.
        if error.status_code < 500 and error.status_code != HTTPStatus.TOO_MANY_REQUESTS:
            raise PlacementRejected("Bitrix24 rejected the access token") from error
        raise Bitrix24Unavailable() from error
    except (BitrixResponseError, AttributeError, KeyError, TypeError, ValueError) as error:  # an answer of odd shape
        raise Bitrix24Unavailable() from error

    try:
        placement.validate_against_app_info(app_info)  # member_id and domain
    except BitrixValidationError as error:
        raise PlacementRejected() from error
    if app_info.client_id != app.client_id:
        raise PlacementRejected()
    return app_info
