"""Errors that end a request with a JSON answer. Each carries its HTTP status and a message safe to show.

`log_errors` (main/utils/decorators/log_errors.py) is the one place that turns them into answers.
"""

from __future__ import annotations

from http import HTTPStatus


class ApiError(Exception):
    status: int = HTTPStatus.BAD_REQUEST
    default_message = "Bad request"

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(ApiError):
    pass


class PayloadTooLarge(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_message = "Request body is too large"


class InvalidJWTToken(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    default_message = "Invalid JWT token"


class ExpiredJWTToken(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    default_message = "JWT token has expired"


class ReauthenticationRequired(ApiError):
    """A Bearer renewal of a JWT whose `auth_time` is JWT_MAX_AGE_HOURS old: Bitrix24 must vouch for the user again."""

    status = HTTPStatus.UNAUTHORIZED
    default_message = "Fresh placement data is needed: this session is too old to renew its JWT"


class AccountInactive(ApiError):
    """The account is blocked or deleted, or the app was uninstalled from its portal."""

    status = HTTPStatus.FORBIDDEN
    default_message = "This Bitrix24 account is not active"


class PlacementRejected(ApiError):
    """Bitrix24 did not vouch for the placement data: unknown token, or it belongs to another portal or app."""

    status = HTTPStatus.UNAUTHORIZED
    default_message = "Bitrix24 did not confirm the placement data"


class Bitrix24Unavailable(ApiError):
    status = HTTPStatus.BAD_GATEWAY
    default_message = "Bitrix24 is not answering correctly; try again later"


class PortalRedirectRefused(Bitrix24Unavailable):
    """The portal's REST API redirected to a host that is not a portal host (main/placement_data.py decides)."""

    default_message = "Bitrix24 redirected the call to a host that is not an allowed portal"


class Bitrix24Timeout(ApiError):
    status = HTTPStatus.GATEWAY_TIMEOUT
    default_message = "Bitrix24 did not answer in time; try again later"


class PlacementTokenExpired(PlacementRejected):
    """The access token has expired; the placement's refresh token may renew it."""

    default_message = "The access token has expired"


class NotPortalAdmin(ApiError):
    status = HTTPStatus.FORBIDDEN
    default_message = "Only an administrator of the Bitrix24 portal can install the app"


class Bitrix24Refused(ApiError):
    """Bitrix24 answered a call on the portal with an error that says nothing about the grant or installation."""

    status = HTTPStatus.BAD_GATEWAY
    default_message = "Bitrix24 refused the call"


class EventRejected(ApiError):
    """An event callback that cannot be shown to come from Bitrix24 for a portal we know."""

    status = HTTPStatus.UNAUTHORIZED
    default_message = "The event could not be verified"


class UnknownPortal(ApiError):
    status = HTTPStatus.NOT_FOUND
    default_message = "The app is not installed on this portal"


class QueueUnavailable(ApiError):
    """The message broker did not take the event (ENABLE_RABBITMQ): Bitrix24 sends it again later."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The event queue is unavailable; try again shortly"
