"""Map Zendesk webhook payloads onto `IntakeRequest`.

Two kinds of Zendesk webhook reach us, told apart by their top-level "type":

1. Event-subscription webhooks ("zen:event-type:ticket.created", ...). Zendesk fixes their JSON:
   an envelope with the event `id`, `account_id`, `subject` ("zen:ticket:123") and `detail`,
   the ticket's fields (id, subject, description, priority, requester_id, tags, created_at...).
   Only ticket.created opens an issue. ticket.comment_added (`event.comment` with `id`, `body`,
   `is_public` and `author` {id, name, is_staff}) is a `CustomerAnswer` when the comment is
   public and its author is not staff (the requester, or another end user copied in); an agent's
   comment, ours included (replies sent through the API by the bot's agent account come back
   here too), and an internal note are `Ignored`, as is every other event. The event carries no
   account subdomain, so the ticket link is built only when the caller passes `subdomain`.
   https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/

2. Trigger webhooks, whose body the admin writes with placeholders. We ask admins to create a
   webhook (Admin Center > Apps and integrations > Webhooks; connect it to "Trigger or
   automation", method POST, request format JSON, signing secret shared with us), then a trigger
   with the condition "Ticket > Ticket | Is | Created" and the action "Notify by > Active
   webhook" with this exact JSON body:

       {
         "type": "supportbridge.zendesk.ticket.v1",
         "ticket": {
           "id": "{{ticket.id}}",
           "title": "{{ticket.title}}",
           "description": "{{ticket.description}}",
           "priority": "{{ticket.priority}}",
           "tags": "{{ticket.tags}}",
           "link": "{{ticket.link}}",
           "created_at": "{{ticket.created_at_with_timestamp}}",
           "requester": {
             "id": "{{ticket.requester.id}}",
             "name": "{{ticket.requester.name}}",
             "email": "{{ticket.requester.email}}"
           },
           "organization": {
             "name": "{{ticket.organization.name}}"
           }
         }
       }

   Placeholders render as plain text: {{ticket.tags}} is space-separated, {{ticket.priority}}
   is the display name ("Normal") or empty, {{ticket.created_at_with_timestamp}} is ISO-8601
   to the minute ("2026-11-23T10:00Z"), {{ticket.link}} is the full agent URL of the ticket,
   and a placeholder without a value renders empty.
   https://support.zendesk.com/hc/en-us/articles/4408886858138-Zendesk-placeholders-reference

Either way the issue's external_id is the ticket number, so both kinds map the same ticket onto
the same issue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.domain.intake import Severity
from integrations.helpdesks.types import (
    Ignored,
    Mapped,
    MapResult,
    PayloadError,
    build_answer,
    build_request,
    decode_json,
    get_http_url,
    get_object,
    get_text,
    get_ticket_number,
    parse_iso_datetime,
    require_text,
    subject_from_body,
)

SOURCE = "zendesk"
TRIGGER_TYPE = "supportbridge.zendesk.ticket.v1"
EVENT_PREFIX = "zen:event-type:"

TRIGGER_BODY_TEMPLATE = """{
  "type": "supportbridge.zendesk.ticket.v1",
  "ticket": {
    "id": "{{ticket.id}}",
    "title": "{{ticket.title}}",
    "description": "{{ticket.description}}",
    "priority": "{{ticket.priority}}",
    "tags": "{{ticket.tags}}",
    "link": "{{ticket.link}}",
    "created_at": "{{ticket.created_at_with_timestamp}}",
    "requester": {
      "id": "{{ticket.requester.id}}",
      "name": "{{ticket.requester.name}}",
      "email": "{{ticket.requester.email}}"
    },
    "organization": {
      "name": "{{ticket.organization.name}}"
    }
  }
}
"""

_SUBDOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

# Zendesk's four priorities map one to one. An unset priority ("" or "-") and any other text
# fall back to normal: a priority we cannot read is no reason to lose the ticket.
_SEVERITY = {
    "low": Severity.LOW,
    "normal": Severity.NORMAL,
    "high": Severity.HIGH,
    "urgent": Severity.URGENT,
}


def map_zendesk_webhook(body: bytes | str | Mapping[str, Any], *, subdomain: str | None = None) -> MapResult:
    """Map a verified Zendesk webhook body (raw bytes or decoded JSON).

    `subdomain` ("acme" for acme.zendesk.com) lets event webhooks link back to the ticket.
    Returns `Mapped` or `Ignored`; raises `PayloadError` naming the malformed field."""
    if subdomain is not None and not _SUBDOMAIN.fullmatch(subdomain):
        raise ValueError("subdomain must be a bare Zendesk subdomain such as 'acme'")
    payload = decode_json(body)
    kind = get_text(payload, "type", "type")
    if kind is None:
        raise PayloadError("type: missing")
    handler = HANDLERS.get(kind)
    if handler is None:
        if kind.startswith(EVENT_PREFIX + "ticket."):
            return Ignored(f"{kind[:100]} is not a ticket creation")
        return Ignored(f"unsupported Zendesk payload type {kind[:100]}")
    return handler(payload, subdomain)


def _ticket_created_event(payload: Mapping[str, Any], subdomain: str | None) -> MapResult:
    detail = get_object(payload, "detail", "detail")
    ticket_id = get_ticket_number(detail, "id", "detail.id")
    description = get_text(detail, "description", "detail.description") or ""
    requester_id = require_text(detail, "requester_id", "detail.requester_id")
    url = f"https://{subdomain}.zendesk.com/agent/tickets/{ticket_id}" if subdomain else None
    fields = {
        "external_id": ticket_id,
        "source": SOURCE,
        "subject": _subject(get_text(detail, "subject", "detail.subject"), description, "detail.subject"),
        "body": description,
        "customer": {"id": requester_id},
        "severity": _severity(get_text(detail, "priority", "detail.priority")),
        "tags": _tag_list(detail.get("tags"), "detail.tags"),
        "url": url,
        "created_at": parse_iso_datetime(
            get_text(detail, "created_at", "detail.created_at"), "detail.created_at"
        ),
    }
    request = build_request(fields, _EVENT_PATHS)
    return Mapped(request=request, delivery_id=get_text(payload, "id", "id"))


def _comment_added_event(payload: Mapping[str, Any], subdomain: str | None) -> MapResult:
    detail = get_object(payload, "detail", "detail")
    ticket_id = get_ticket_number(detail, "id", "detail.id")
    event = get_object(payload, "event", "event")
    comment = get_object(event, "comment", "event.comment")
    author = get_object(comment, "author", "event.comment.author")
    is_staff = author.get("is_staff")
    is_public = comment.get("is_public")
    if not isinstance(is_staff, bool):
        raise PayloadError("event.comment.author.is_staff: must be true or false")
    if not isinstance(is_public, bool):
        raise PayloadError("event.comment.is_public: must be true or false")
    if is_staff:
        return Ignored("a comment by an agent")
    if not is_public:
        return Ignored("an internal note")
    comment_id = require_text(comment, "id", "event.comment.id")
    fields = {
        "source": SOURCE,
        "conversation_id": ticket_id,
        "delivery_id": get_text(payload, "id", "id") or f"comment:{comment_id}",
        "text": get_text(comment, "body", "event.comment.body") or "",
        "author_name": get_text(author, "name", "event.comment.author.name"),
        "at": parse_iso_datetime(get_text(payload, "time", "time"), "time"),
    }
    return build_answer(
        fields,
        {"conversation_id": "detail.id", "delivery_id": "id", "text": "event.comment.body", "at": "time"},
    )


def _trigger_ticket(payload: Mapping[str, Any], subdomain: str | None) -> MapResult:
    ticket = get_object(payload, "ticket", "ticket")
    ticket_id = get_ticket_number(ticket, "id", "ticket.id")
    description = get_text(ticket, "description", "ticket.description") or ""
    requester = get_object(ticket, "requester", "ticket.requester", required=False)
    organization = get_object(ticket, "organization", "ticket.organization", required=False)
    email = get_text(requester, "email", "ticket.requester.email")
    customer_id = get_text(requester, "id", "ticket.requester.id") or email
    if customer_id is None:
        raise PayloadError("ticket.requester.id: missing")
    tags = get_text(ticket, "tags", "ticket.tags")
    fields = {
        "external_id": ticket_id,
        "source": SOURCE,
        "subject": _subject(get_text(ticket, "title", "ticket.title"), description, "ticket.title"),
        "body": description,
        "customer": {
            "id": customer_id,
            "name": get_text(requester, "name", "ticket.requester.name"),
            "email": email,
            "company": get_text(organization, "name", "ticket.organization.name"),
        },
        "severity": _severity(get_text(ticket, "priority", "ticket.priority")),
        "tags": tags.split() if tags else [],
        "url": get_http_url(ticket, "link", "ticket.link"),
        "created_at": parse_iso_datetime(
            get_text(ticket, "created_at", "ticket.created_at"), "ticket.created_at"
        ),
    }
    request = build_request(fields, _TRIGGER_PATHS)
    return Mapped(request=request, delivery_id=None)


def _subject(subject: str | None, description: str, path: str) -> str:
    # The Tickets API accepts a ticket without a subject; its description's first line then
    # titles the issue.
    subject = subject or subject_from_body(description)
    if subject is None:
        raise PayloadError(f"{path}: missing")
    return subject


def _severity(priority: str | None) -> Severity:
    return _SEVERITY.get((priority or "").lower(), Severity.NORMAL)


def _tag_list(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise PayloadError(f"{path}: must be a list of strings")
    return value


_EVENT_PATHS = {
    "external_id": "detail.id",
    "subject": "detail.subject",
    "body": "detail.description",
    "customer": "detail.requester_id",
    "tags": "detail.tags",
    "url": "detail.id",
    "created_at": "detail.created_at",
}

_TRIGGER_PATHS = {
    "external_id": "ticket.id",
    "subject": "ticket.title",
    "body": "ticket.description",
    "customer": "ticket.requester",
    "customer.id": "ticket.requester.id",
    "customer.name": "ticket.requester.name",
    "customer.email": "ticket.requester.email",
    "customer.company": "ticket.organization.name",
    "tags": "ticket.tags",
    "url": "ticket.link",
    "created_at": "ticket.created_at",
}

HANDLERS: dict[str, Callable[[Mapping[str, Any], str | None], MapResult]] = {
    EVENT_PREFIX + "ticket.created": _ticket_created_event,
    EVENT_PREFIX + "ticket.comment_added": _comment_added_event,
    TRIGGER_TYPE: _trigger_ticket,
}
