"""Helpdesk webhook adapters (Zendesk, Intercom): signature checks and payload mapping onto
`IntakeRequest`. Pure code: the HTTP layer reads the raw body and headers, calls `verify_*`,
then `map_*_webhook`, and answers according to the result (see `types`)."""

from __future__ import annotations

from integrations.helpdesks.intercom import map_intercom_webhook
from integrations.helpdesks.signatures import (
    INTERCOM_SIGNATURE_HEADER,
    ZENDESK_SIGNATURE_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    SignatureError,
    sign_intercom,
    sign_zendesk,
    verify_intercom,
    verify_zendesk,
)
from integrations.helpdesks.types import (
    CustomerAnswer,
    Ignored,
    IntakeAuthError,
    Mapped,
    MapResult,
    PayloadError,
)
from integrations.helpdesks.zendesk import TRIGGER_BODY_TEMPLATE, map_zendesk_webhook

__all__ = [
    "INTERCOM_SIGNATURE_HEADER",
    "TRIGGER_BODY_TEMPLATE",
    "ZENDESK_SIGNATURE_HEADER",
    "ZENDESK_TIMESTAMP_HEADER",
    "CustomerAnswer",
    "Ignored",
    "IntakeAuthError",
    "MapResult",
    "Mapped",
    "PayloadError",
    "SignatureError",
    "map_intercom_webhook",
    "map_zendesk_webhook",
    "sign_intercom",
    "sign_zendesk",
    "verify_intercom",
    "verify_zendesk",
]
