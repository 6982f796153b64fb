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


class Bitrix24Timeout(ApiError):
    status = HTTPStatus.GATEWAY_TIMEOUT
    default_message = "Bitrix24 did not answer in time; try again later"
