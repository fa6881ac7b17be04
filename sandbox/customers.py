"""The customer's side of the sandbox: where the bot's replies arrive, and the customer answering them.

Started on loopback with the fake Slack and Jira: an inbox (a real SMTP server, aiosmtpd, keeping what
it is sent; it listens on 127.0.0.1 only, so it takes no TLS or login), the fake Intercom and fake
Zendesk the tests use, and a receiver of reply webhooks for the generic sources. The bot's reply
channels are pointed at them (`reply_settings`, sandbox/stack.py), so a reply never reaches a real
customer.

Playing the customer (the page's "Answer as the customer"):

- an e-mail answer is a real message In-Reply-To the bot's, with References to the thread, parsed by
  the mailbox intake's own parser and taken by `take_email`: the sandbox has no IMAP server, this is
  what the IMAP poller would hand over;
- an Intercom or Zendesk answer is added to the conversation / ticket in the fake, then announced to
  the bot by the helpdesk's signed webhook (`conversation.user.replied`, `ticket.comment_added`), as the
  helpdesk would.

Either way the answer lands in the card's thread through the bot's own code.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError

from bot.domain.intake import IntakeRequest
from bot.services.email_intake import EmailOutcome, message_key, take_email
from bot.services.intake import ingest_issue
from integrations.email import Skipped, parse_email
from integrations.helpdesks.intercom import html_to_text
from sandbox.fakes.contracts import intercom_contract_missing_reason
from sandbox.fakes.intercom_api import FakeIntercom
from sandbox.fakes.webhook_receiver import FakeWebhookReceiver
from sandbox.fakes.zendesk_api import FakeZendesk
from sandbox.signed import Answer, SignedSender

if TYPE_CHECKING:
    from bot.config import AppConfig
    from bot.runtime import Runtime

SUPPORT_ADDRESS = "support@sandbox.example"
SUPPORT_FROM = f"Acme Support <{SUPPORT_ADDRESS}>"
ZENDESK_AGENT = "supportbridge@sandbox.example"
MAX_ANSWER = 4000  # characters of what the person playing the customer types
MAX_KEPT = 200  # e-mails, webhook deliveries: the newest are kept


class AnswerRefused(ValueError):
    """What the page asked the customer to answer cannot be sent (the message says why)."""


def clean_answer(text: object) -> str:
    """The customer's text: control characters (but newlines and tabs) dropped, bounded, not empty."""
    cleaned = "".join(ch for ch in str(text or "") if ch in "\n\t" or ch.isprintable()).strip()
    if not cleaned:
        raise AnswerRefused("write what the customer answers")
    if len(cleaned) > MAX_ANSWER:
        raise AnswerRefused(f"an answer is at most {MAX_ANSWER} characters")
    return cleaned


# -- the inbox


@dataclass
class InboxMessage:
    number: int
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    answers: list[str] = field(default_factory=list)

    def shown(self) -> dict[str, Any]:
        message = self.message
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        return {
            "number": self.number,
            "envelope_from": self.mail_from,
            "envelope_to": list(self.rcpt_tos),
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "reply_to": str(message.get("Reply-To", "")),
            "subject": str(message.get("Subject", "")),
            "date": str(message.get("Date", "")),
            "message_id": str(message.get("Message-ID", "")),
            "in_reply_to": str(message.get("In-Reply-To", "")),
            "references": str(message.get("References", "")),
            "text": str(text)[:20000],
            "answers": list(self.answers),
        }


class _InboxHandler:
    def __init__(self, inbox: FakeInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.inbox.store(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], message)
        return "250 Message accepted for delivery"


class FakeInbox:
    """Every customer's mailbox at once: an SMTP server on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[InboxMessage] = []
        self.on_change: Callable[[], None] = lambda: None
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"  # no login: nothing but this machine reaches it

    def store(self, mail_from: str, rcpt_tos: list[str], message: EmailMessage) -> None:
        self.messages.append(InboxMessage(next(self._numbers), mail_from, rcpt_tos, message))
        del self.messages[:-MAX_KEPT]
        self.on_change()

    def get(self, number: int) -> InboxMessage:
        for message in self.messages:
            if message.number == number:
                return message
        raise AnswerRefused(f"no e-mail #{number} in the inbox")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        handler = _InboxHandler(self)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="inbox.sandbox.example", loop=loop), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


# -- the helpdesks


@dataclass(frozen=True)
class Person:
    name: str
    email: str


class SandboxIntercom(FakeIntercom):
    """The fake Intercom, knowing who started each conversation and telling the page of changes."""

    def __init__(self, token: str, *, check_contract: bool) -> None:
        super().__init__(token, check_contract=check_contract)
        self.people: dict[str, Person] = {}
        self.on_change: Callable[[], None] = lambda: None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        if request.method != "GET":
            self.on_change()
        return response

    def _author(self, conversation_id: str) -> dict[str, Any]:
        conversation = self.conversations[conversation_id]
        person = self.people.get(conversation_id, Person("Customer", "customer@sandbox.example"))
        return {"type": "user", "id": conversation.contact_id, "name": person.name, "email": person.email}

    def open_conversation(self, text: str, person: Person) -> str:
        conversation_id = self.seed_conversation(text)
        self.people[conversation_id] = person
        self.conversations[conversation_id].parts[0]["author"] = self._author(conversation_id)
        self.on_change()
        return conversation_id

    def customer_part(self, conversation_id: str, text: str) -> dict[str, Any]:
        """The customer's reply in the conversation (what the Messenger would add); returns the part."""
        if conversation_id not in self.conversations:
            raise AnswerRefused(f"no Intercom conversation {conversation_id}")
        body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
        part = self._part("comment", body, "user")
        part["author"] = self._author(conversation_id)
        part["created_at"] = part["updated_at"] = part["notified_at"] = int(time.time())
        self.conversations[conversation_id].parts.append(part)
        self.on_change()
        return part

    def replied_webhook(self, conversation_id: str, part: dict[str, Any]) -> dict[str, Any]:
        """The `conversation.user.replied` notification Intercom sends for that part."""
        conversation = self.conversations[conversation_id]
        now = int(time.time())
        author = self._author(conversation_id)
        first = conversation.parts[0]
        return {
            "type": "notification_event",
            "app_id": "sandbox",
            "id": f"notif_{uuid.uuid4()}",
            "topic": "conversation.user.replied",
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": now,
            "created_at": now,
            "links": {},
            "self": None,
            "data": {
                "type": "notification_event_data",
                "item": {
                    "type": "conversation",
                    "id": conversation.id,
                    "created_at": conversation.created_at,
                    "updated_at": now,
                    "open": True,
                    "state": "open",
                    "read": False,
                    "priority": "not_priority",
                    "tags": {"type": "tag.list", "tags": []},
                    "source": {
                        "type": "conversation",
                        "id": first["id"],
                        "delivered_as": "customer_initiated",
                        "subject": "",
                        "body": first["body"],
                        "author": author,
                        "attachments": [],
                        "redacted": False,
                    },
                    "contacts": {
                        "type": "contact.list",
                        "contacts": [{"type": "contact", "id": conversation.contact_id}],
                    },
                    "conversation_parts": {
                        "type": "conversation_part.list",
                        "conversation_parts": [part],
                        "total_count": 1,
                    },
                },
            },
        }

    def _shown_part(self, part: dict[str, Any]) -> dict[str, Any]:
        author = part["author"]
        return {
            "id": part["id"],
            "author_type": author["type"],
            "author": author.get("name") or author["type"],
            "ours": author["type"] == "admin" and author["id"] == self.admin["id"],
            "part_type": part["part_type"],
            "text": html_to_text(part["body"] or "")[:20000],
        }

    def shown(self) -> list[dict[str, Any]]:
        listed = []
        for conversation in reversed(list(self.conversations.values())):
            person = self.people.get(conversation.id)
            listed.append(
                {
                    "id": conversation.id,
                    "customer": {"name": person.name, "email": person.email} if person else None,
                    "parts": [self._shown_part(part) for part in conversation.parts],
                }
            )
        return listed


class SandboxZendesk(FakeZendesk):
    """The fake Zendesk, knowing each ticket's requester and telling the page of changes."""

    def __init__(self, api_token: str) -> None:
        super().__init__(email=ZENDESK_AGENT, api_token=api_token)
        self.people: dict[int, Person] = {}
        self.on_change: Callable[[], None] = lambda: None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        if request.method != "GET":
            self.on_change()
        return response

    def open_ticket(self, subject: str, text: str, person: Person) -> str:
        ticket_id = self.seed_ticket(text)
        ticket = self.tickets[int(ticket_id)]
        ticket.subject = subject[:250]
        self.people[ticket.id] = person
        self.on_change()
        return ticket_id

    def customer_comment(self, ticket_id: str, text: str) -> dict[str, Any]:
        """The requester's public comment on the ticket (an e-mail to it, or the help centre)."""
        ticket = self.tickets.get(int(ticket_id)) if ticket_id.isdigit() else None
        if ticket is None:
            raise AnswerRefused(f"no Zendesk ticket {ticket_id}")
        if ticket.status == "closed":
            raise AnswerRefused(f"Zendesk ticket {ticket_id} is closed")
        comment_id = self.add_comment(ticket_id, text, public=True, author_id=ticket.requester_id)
        self.on_change()
        return next(c for c in ticket.comments if str(c["id"]) == comment_id)

    def comment_webhook(self, ticket_id: str, comment: dict[str, Any]) -> dict[str, Any]:
        """The `ticket.comment_added` event Zendesk sends for that comment."""
        ticket = self.tickets[int(ticket_id)]
        person = self.people.get(ticket.id)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "type": "zen:event-type:ticket.comment_added",
            "account_id": 1,
            "id": str(uuid.uuid4()),
            "time": now,
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket.id}",
            "detail": {
                "created_at": ticket.comments[0]["created_at"],
                "id": str(ticket.id),
                "priority": "NORMAL",
                "requester_id": str(ticket.requester_id),
                "status": ticket.status.upper(),
                "subject": ticket.subject,
                "tags": [],
                "updated_at": now,
                "via": {"channel": "web_form"},
            },
            "event": {
                "comment": {
                    "id": str(comment["id"]),
                    "body": comment["body"],
                    "is_public": True,
                    "author": {
                        "id": str(ticket.requester_id),
                        "is_staff": False,
                        "name": person.name if person else "Customer",
                    },
                },
                "meta": {"sequence": {"id": uuid.uuid4().hex, "position": 1}},
            },
        }

    def shown(self) -> list[dict[str, Any]]:
        listed = []
        for ticket in reversed(list(self.tickets.values())):
            person = self.people.get(ticket.id)
            listed.append(
                {
                    "id": str(ticket.id),
                    "subject": ticket.subject,
                    "status": ticket.status,
                    "customer": {"name": person.name, "email": person.email} if person else None,
                    "comments": [
                        {
                            "id": str(comment["id"]),
                            "author": (
                                "Supportbridge (agent)"
                                if comment["author_id"] == self.agent["id"]
                                else (person.name if person else "requester")
                            ),
                            "ours": comment["author_id"] == self.agent["id"],
                            "public": comment["public"],
                            "text": str(comment["body"])[:20000],
                        }
                        for comment in ticket.comments
                    ],
                }
            )
        return listed


class SandboxWebhookReceiver(FakeWebhookReceiver):
    """Where a generic source (the web form) takes replies: the fake receiver, telling the page."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.on_change: Callable[[], None] = lambda: None

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        response = await super()._receive(request)
        del self.deliveries[:-MAX_KEPT]
        self.on_change()
        return response


# -- all of them


class SandboxCustomers:
    """The customer's side: the inbox, the helpdesks and the webhook receiver, on loopback."""

    def __init__(
        self,
        *,
        intercom_token: str,
        zendesk_token: str,
        webhook_secret: str,
        check_contract: bool,
    ) -> None:
        self.inbox = FakeInbox()
        # Intercom's contract is checked when its file is in the contracts folder (an older folder
        # holds Slack's and Jira's only).
        self.intercom = SandboxIntercom(
            intercom_token, check_contract=check_contract and intercom_contract_missing_reason() is None
        )
        self.zendesk = SandboxZendesk(zendesk_token)
        self.webhooks = SandboxWebhookReceiver(webhook_secret)
        self.on_change: Callable[[], None] = lambda: None
        for part in (self.inbox, self.intercom, self.zendesk, self.webhooks):
            part.on_change = self._changed
        # Reports by their key (the demo's are fixed): sent again, they name the same conversation/ticket.
        self.demo_threads: dict[str, str] = {}

    def _changed(self) -> None:
        self.on_change()

    async def start(self) -> None:
        await self.inbox.start()
        await self.intercom.start()
        await self.zendesk.start()
        await self.webhooks.start()

    async def close(self) -> None:
        await self.webhooks.close()
        await self.zendesk.close()
        await self.intercom.close()
        await self.inbox.close()

    def reply_settings(self) -> dict[str, Any]:
        """The bot's settings for its reply channels: every one pointed at these fakes."""
        from pydantic import SecretStr

        return {
            "smtp_url": SecretStr(self.inbox.url),
            "smtp_ca_file": None,
            "support_email_from": SUPPORT_FROM,
            "intercom_access_token": SecretStr(self.intercom.token),
            "intercom_api_url": self.intercom.url,
            "zendesk_subdomain": None,
            "zendesk_email": self.zendesk.email,
            "zendesk_api_token": SecretStr(self.zendesk.api_token),
            "zendesk_api_url": self.zendesk.url,
        }

    def loopback_urls(self) -> tuple[str, ...]:
        return (self.inbox.url, self.intercom.url, self.zendesk.url, self.webhooks.url)

    def snapshot(self) -> dict[str, Any]:
        return {
            "inbox": [m.shown() for m in reversed(self.inbox.messages)],
            "intercom": self.intercom.shown(),
            "zendesk": self.zendesk.shown(),
            "webhooks": {
                "url": self.webhooks.url,
                "deliveries": list(reversed(self.webhooks.deliveries)),
                "refused": len(self.webhooks.refused),
            },
            "violations": [
                *self.intercom.violations[-5:],
                *self.intercom.response_violations[-5:],
                *self.zendesk.violations[-5:],
                *self.webhooks.violations[-5:],
            ],
        }


# -- a customer reporting a problem


async def report_in(
    customers: SandboxCustomers,
    sender: SignedSender,
    runtime: Runtime,
    config: AppConfig,
    payload: dict[str, Any],
    *,
    key: str | None = None,
) -> Answer:
    """A report (the generic intake's JSON) sent in the way its source sends one, so a reply from its
    card has somewhere to land: a helpdesk report names the conversation or ticket opened for it in the
    fake Intercom or Zendesk first; an e-mail is stored as the mailbox intake stores one (under its
    Message-ID, so the customer's answer to a reply threads back to it), with what routing rules
    would read from it (area, severity, tags) kept. `key` names a report sent again (the demo's): the
    same conversation, ticket or Message-ID. Answers as the intake does: 202 new, 200 a repeat."""
    source = str(payload.get("source") or "")
    key = key or f"sandbox-{uuid.uuid4().hex[:12]}"
    given = payload.get("customer")
    customer: dict[str, Any] = given if isinstance(given, dict) else {}
    person = Person(str(customer.get("name") or "Customer"), str(customer.get("email") or ""))
    if source == "email":
        if "@" not in person.email:
            raise AnswerRefused("an e-mail report needs the customer's e-mail address")
        message_id = f"{key}@{person.email.rpartition('@')[2]}"
        try:
            request = IntakeRequest.model_validate({**payload, "external_id": message_id})
        except ValidationError as exc:
            raise AnswerRefused(f"not a report: {exc.errors()[0]['msg']}") from None
        result = await ingest_issue(runtime.database, config, request, delivery_key=message_key(message_id))
        runtime.deliverer.wake()
        return Answer(202 if result.created else 200, {"id": result.issue_id})
    if source in ("intercom", "zendesk"):
        thread = customers.demo_threads.get(key)
        if thread is None:
            if source == "intercom":
                thread = customers.intercom.open_conversation(str(payload.get("body") or ""), person)
            else:
                subject, body = str(payload.get("subject") or ""), str(payload.get("body") or "")
                thread = customers.zendesk.open_ticket(subject, body, person)
            customers.demo_threads[key] = thread
        payload = {**payload, "external_id": thread}
    return await sender.intake(payload)


# -- playing the customer


def customer_email(mail: InboxMessage, text: str) -> EmailMessage:
    """The customer's answer to an e-mail in the inbox, as their mail client writes it."""
    original = mail.message
    to_name, to_address = parseaddr(str(original.get("To", "")))
    if "@" not in to_address:
        raise AnswerRefused(f"e-mail #{mail.number} has no recipient to answer as")
    support = parseaddr(str(original.get("Reply-To") or original.get("From") or ""))[1] or SUPPORT_ADDRESS
    parent = str(original.get("Message-ID", "")).strip()
    subject = str(original.get("Subject", ""))
    answer = EmailMessage()
    answer["From"] = Address(display_name=to_name, addr_spec=to_address)
    answer["To"] = Address(addr_spec=support)
    answer["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    answer["Date"] = formatdate(localtime=False)
    answer["Message-ID"] = make_msgid(domain=to_address.rpartition("@")[2])
    if parent:
        answer["In-Reply-To"] = parent
        answer["References"] = " ".join([*str(original.get("References", "")).split(), parent][-20:])
    body = original.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}" for line in str(body.get_content() if body else "").splitlines())
    answer.set_content(f"{text}\n\nOn {original.get('Date', 'an earlier day')}, support wrote:\n{quoted}\n")
    return answer


async def take_customer_email(runtime: Runtime, config: AppConfig, message: EmailMessage) -> EmailOutcome:
    """Hand a customer's e-mail to the mailbox intake, as the IMAP poller would after fetching it."""
    parsed = parse_email(message.as_bytes())
    if isinstance(parsed, Skipped):
        raise AnswerRefused(f"the mailbox intake skips this message ({parsed.reason})")
    outcome = await take_email(runtime.database, config, parsed)
    runtime.deliverer.wake()
    return outcome


async def answer_email(
    customers: SandboxCustomers, runtime: Runtime, config: AppConfig, number: int, text: str
) -> EmailOutcome:
    mail = customers.inbox.get(number)
    cleaned = clean_answer(text)
    outcome = await take_customer_email(runtime, config, customer_email(mail, cleaned))
    mail.answers.append(cleaned)
    customers.on_change()
    return outcome


async def answer_intercom(
    customers: SandboxCustomers, sender: SignedSender, conversation_id: str, text: str
) -> Answer:
    part = customers.intercom.customer_part(conversation_id, clean_answer(text))
    return await sender.intercom_webhook(customers.intercom.replied_webhook(conversation_id, part))


async def answer_zendesk(
    customers: SandboxCustomers, sender: SignedSender, ticket_id: str, text: str
) -> Answer:
    comment = customers.zendesk.customer_comment(ticket_id, clean_answer(text))
    return await sender.zendesk_webhook(customers.zendesk.comment_webhook(ticket_id, comment))
