"""Bitrix24's callbacks about the app's life on a portal (`POST /api/app-events`, bound by the install).

- ONAPPINSTALL carries the installing user's access token: `app.info` must confirm it for the portal and this app,
  then the event's `application_token` is stored on the installation and its master account, and the installation
  becomes active.
- ONAPPUNINSTALL carries no access token: its `application_token` must equal the one ONAPPINSTALL stored. Then the
  installation and the portal's accounts are deleted (main/statuses.py: the portal's users lose access).

A forged callback changes nothing and gets a 4xx; a replayed one changes nothing the second time; an event the
backend does not handle is acknowledged and logged. `accept_event` checks what can be checked at once;
`process_event` does the rest.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from b24pysdk.credentials import OAuthEventData
from b24pysdk.errors import BitrixValidationError
from django.db import transaction

from main.bitrix24 import verified_app_info
from main.exceptions import BadRequest, EventRejected, PlacementRejected, UnknownPortal
from main.models import ApplicationInstallation, Bitrix24Account, not_set_by_operator
from main.placement_data import MAX_TEXT_LENGTH, is_portal_host
from main.statuses import UNINSTALLED, AccountStatus, set_automatically

logger = logging.getLogger(__name__)

INSTALLED, UNINSTALLED_EVENT = "ONAPPINSTALL", "ONAPPUNINSTALL"


def accept_event(data: Mapping[str, Any]) -> OAuthEventData:
    """The event, once its shape (`BadRequest`) and, for ONAPPUNINSTALL, its application token (`EventRejected`,
    `UnknownPortal`) are right."""
    try:
        event = OAuthEventData.from_dict(data)
    except BitrixValidationError as error:
        raise BadRequest(error.message) from error
    _check_text_fields(event)
    if not is_portal_host(event.auth.domain):
        raise BadRequest("Invalid event: auth[domain] must be a portal host name")
    if event.event.upper() == UNINSTALLED_EVENT:
        _installation_holding(event)
    return event


def _check_text_fields(event: OAuthEventData) -> None:
    """The fields the backend compares, sends or stores are text that fits its columns: a field sent twice is a list,
    a JSON body can hold anything."""
    token = event.auth.oauth_token
    fields = {
        "event": event.event,
        "auth[domain]": event.auth.domain,
        "auth[member_id]": event.auth.member_id,
        "auth[application_token]": event.auth.application_token,
        **({"auth[access_token]": token.access_token} if token is not None else {}),
    }
    for name, value in fields.items():
        if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
            raise BadRequest(f"Invalid event: {name} must be text of at most {MAX_TEXT_LENGTH} characters")


def process_event(data: Mapping[str, Any]) -> str:
    """Apply the event; the answer says whether it was `processed` or `ignored`."""
    event = accept_event(data)
    name = event.event.upper()
    if name == INSTALLED:
        _installed(event)
    elif name == UNINSTALLED_EVENT:
        _uninstalled(event)
    else:
        logger.info("Ignored event %s from portal %s", event.event, event.auth.member_id)
        return "ignored"
    return "processed"


def _installation_holding(event: OAuthEventData) -> ApplicationInstallation:
    """The portal's installation, when the event's application token is the one stored on it."""
    installation = _installation_of(event)
    stored, sent = installation.application_token or "", event.auth.application_token or ""
    if not (stored and hmac.compare_digest(stored.encode(), sent.encode())):
        raise EventRejected("The event's application token is not this portal's")
    return installation


def _installation_of(event: OAuthEventData) -> ApplicationInstallation:
    installation = ApplicationInstallation.objects.of_portal(event.auth.member_id).first()
    if installation is None:
        raise UnknownPortal()
    return installation


def _installed(event: OAuthEventData) -> None:
    try:
        verified_app_info(event.auth)
    except PlacementRejected as error:
        raise EventRejected() from error
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        installation = _installation_of(event)
        if installation.status == AccountStatus.DELETED:
            # Late (a queue delivers in any order) or replayed: only an install brings an uninstalled app back.
            logger.info("Ignored ONAPPINSTALL for portal %s: the app was uninstalled", event.auth.member_id)
            return
        token = event.auth.application_token
        fields: dict[str, object] = {"application_token": token}
        if installation.status == AccountStatus.NEW or set_automatically(installation.comment):
            fields.update(status=AccountStatus.ACTIVE, comment=None)
        # Only what differs is written: a replayed event changes nothing.
        ApplicationInstallation.objects.filter(pk=installation.pk).exclude(**fields).update(**fields, update_at_utc=now)
        master = Bitrix24Account.objects.filter(pk=installation.bitrix_24_account_id)
        master.exclude(application_token=token).update(application_token=token, updated_at_utc=now)
    logger.info("The app was installed on portal %s", event.auth.member_id)


def _uninstalled(event: OAuthEventData) -> None:
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        installation = _installation_holding(event)
        # Statuses an operator set stay (a reinstall must not lift them); a replayed event changes nothing.
        moved = {"status": AccountStatus.DELETED, "comment": UNINSTALLED}
        installations = ApplicationInstallation.objects.filter(not_set_by_operator(), pk=installation.pk)
        installations.exclude(**moved).update(**moved, update_at_utc=now)
        portal = Bitrix24Account.objects.filter(not_set_by_operator(), member_id=event.auth.member_id)
        portal.exclude(**moved).update(**moved, updated_at_utc=now)
    logger.info("The app was uninstalled from portal %s", event.auth.member_id)
