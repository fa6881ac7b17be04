"""Map Intercom webhook notifications onto `IntakeRequest`.

A notification is an envelope {"type": "notification_event", "topic", "id": "notif_...",
"created_at", "data": {"item": ...}}; for conversation topics the item is a Conversation
(API 2.x shape: `source` is the opening message with `subject`, HTML `body` and `author`
{type, id, name, email}; `contacts.contacts[]`; `tags.tags[].name`; `priority` "priority" or
"not_priority"; `links.conversation_web`, the conversation in the Intercom inbox).

Only `conversation.user.created` ("user/lead initiated conversations") opens an issue.
`conversation.user.replied` ("user/lead replies to a conversation") is a customer's answer on a
conversation: its newest `conversation_parts` part written by the customer (a comment whose
author is a user, lead or contact) is a `CustomerAnswer`. A teammate's or bot's part is never one:
`conversation.admin.replied` (our own replies too, sent as an admin, come back this way),
`conversation.admin.single.created` ("admin initiated 1:1 conversations", a teammate's outbound
message), `ping` (sent when the webhook is saved) and every other topic are `Ignored`.
https://developers.intercom.com/docs/references/2.16/webhooks/webhook-models
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
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
    parse_unix_time,
    require_text,
    subject_from_body,
)

SOURCE = "intercom"

# Author types that are the customer; admins, teams and bots write on the workspace's behalf.
_CUSTOMER_AUTHORS = frozenset({"user", "lead", "contact"})


def map_intercom_webhook(body: bytes | str | Mapping[str, Any]) -> MapResult:
    """Map a verified Intercom notification body (raw bytes or decoded JSON).
    Returns `Mapped` or `Ignored`; raises `PayloadError` naming the malformed field."""
    payload = decode_json(body)
    topic = get_text(payload, "topic", "topic")
    if topic is None:
        raise PayloadError("topic: missing")
    handler = HANDLERS.get(topic)
    if handler is None:
        return Ignored(f"topic {topic[:100]} does not open an issue")
    return handler(payload)


def _conversation_created(payload: Mapping[str, Any]) -> MapResult:
    data = get_object(payload, "data", "data")
    item = get_object(data, "item", "data.item")
    if get_text(item, "type", "data.item.type") != "conversation":
        raise PayloadError("data.item.type: must be 'conversation'")
    conversation_id = require_text(item, "id", "data.item.id")
    source = get_object(item, "source", "data.item.source")

    body = html_to_text(get_text(source, "body", "data.item.source.body") or "")
    subject_html = get_text(source, "subject", "data.item.source.subject") or ""
    subject = " ".join(html_to_text(subject_html).split()) or subject_from_body(body)
    if subject is None:
        raise PayloadError("data.item.source.body: missing")

    links = get_object(item, "links", "data.item.links", required=False)
    fields = {
        "external_id": conversation_id,
        "source": SOURCE,
        "subject": subject,
        "body": body,
        "customer": _customer(item, source),
        "severity": Severity.HIGH if item.get("priority") == "priority" else Severity.NORMAL,
        "tags": _tag_names(item),
        # Only Intercom's own link: the inbox host differs by data-hosting region
        # (app.intercom.com, app.eu.intercom.com, app.au.intercom.com), so it is not derivable.
        "url": get_http_url(links, "conversation_web", "data.item.links.conversation_web"),
        "created_at": parse_unix_time(item, "created_at", "data.item.created_at"),
    }
    request = build_request(fields, _PATHS)
    return Mapped(request=request, delivery_id=get_text(payload, "id", "id"))


def _user_replied(payload: Mapping[str, Any]) -> MapResult:
    data = get_object(payload, "data", "data")
    item = get_object(data, "item", "data.item")
    if get_text(item, "type", "data.item.type") != "conversation":
        raise PayloadError("data.item.type: must be 'conversation'")
    conversation_id = require_text(item, "id", "data.item.id")
    parts = get_object(item, "conversation_parts", "data.item.conversation_parts").get("conversation_parts")
    if not isinstance(parts, list):
        raise PayloadError("data.item.conversation_parts.conversation_parts: must be a list")
    # The notification carries the part(s) it is about; the newest the customer wrote is the answer.
    for index in reversed(range(len(parts))):
        part = parts[index]
        path = f"data.item.conversation_parts.conversation_parts[{index}]"
        if not isinstance(part, Mapping):
            raise PayloadError(f"{path}: must be an object")
        author = get_object(part, "author", f"{path}.author", required=False)
        if get_text(author, "type", f"{path}.author.type") not in _CUSTOMER_AUTHORS:
            continue
        if get_text(part, "part_type", f"{path}.part_type") != "comment":
            continue
        part_id = require_text(part, "id", f"{path}.id")
        fields = {
            "source": SOURCE,
            "conversation_id": conversation_id,
            "delivery_id": get_text(payload, "id", "id") or f"part:{part_id}",
            "text": html_to_text(get_text(part, "body", f"{path}.body") or ""),
            "author_name": get_text(author, "name", f"{path}.author.name"),
            "author_email": get_text(author, "email", f"{path}.author.email"),
            "at": parse_unix_time(part, "created_at", f"{path}.created_at"),
        }
        return build_answer(
            fields,
            {
                "conversation_id": "data.item.id",
                "delivery_id": "id",
                "text": f"{path}.body",
                "author_name": f"{path}.author.name",
                "author_email": f"{path}.author.email",
                "at": f"{path}.created_at",
            },
        )
    return Ignored("conversation.user.replied carries no comment by the customer")


def _customer(item: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    author = get_object(source, "author", "data.item.source.author", required=False)
    if get_text(author, "type", "data.item.source.author.type") in _CUSTOMER_AUTHORS:
        author_id = get_text(author, "id", "data.item.source.author.id")
        if author_id is not None:
            return {
                "id": author_id,
                "name": get_text(author, "name", "data.item.source.author.name"),
                "email": get_text(author, "email", "data.item.source.author.email"),
            }
    contacts = get_object(item, "contacts", "data.item.contacts", required=False).get("contacts")
    if contacts is not None and not isinstance(contacts, list):
        raise PayloadError("data.item.contacts.contacts: must be a list")
    if contacts:
        first = contacts[0]
        if not isinstance(first, Mapping):
            raise PayloadError("data.item.contacts.contacts[0]: must be an object")
        return {"id": require_text(first, "id", "data.item.contacts.contacts[0].id")}
    raise PayloadError("data.item.source.author.id: missing")


def _tag_names(item: Mapping[str, Any]) -> list[str]:
    tags = get_object(item, "tags", "data.item.tags", required=False).get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise PayloadError("data.item.tags.tags: must be a list")
    names = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, Mapping):
            raise PayloadError(f"data.item.tags.tags[{index}]: must be an object")
        name = get_text(tag, "name", f"data.item.tags.tags[{index}].name")
        if name is not None:
            names.append(name)
    return names


_PATHS = {
    "external_id": "data.item.id",
    "subject": "data.item.source.subject",
    "body": "data.item.source.body",
    "customer": "data.item.source.author",
    "customer.id": "data.item.source.author.id",
    "customer.name": "data.item.source.author.name",
    "customer.email": "data.item.source.author.email",
    "tags": "data.item.tags",
    "url": "data.item.links.conversation_web",
    "created_at": "data.item.created_at",
}

HANDLERS: dict[str, Callable[[Mapping[str, Any]], MapResult]] = {
    "conversation.user.created": _conversation_created,
    "conversation.user.replied": _user_replied,
}


def html_to_text(html: str) -> str:
    """Plain text of an Intercom message body: paragraphs and line breaks kept, list items
    bulleted or numbered, entities decoded, scripts and styles dropped, link targets shown."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "hr"}
)
_LINE_TAGS = frozenset({"tr", "dt", "dd", "figcaption"})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "iframe", "object"})
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skipping: list[str] = []
        self._lists: list[tuple[str, list[int]]] = []  # (tag, [next number]) per open list
        self._links: list[tuple[str | None, int]] = []  # (href, index of the link's first part)
        self._pre = 0
        self._line_start = True
        self._newlines = 0  # newlines ending the text so far
        self._started = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping:
            if tag in _SKIPPED_TAGS:
                self._skipping.append(tag)
            return
        if tag in _SKIPPED_TAGS:
            self._skipping.append(tag)
        elif tag == "br":
            self._emit("\n")
        elif tag in ("ul", "ol"):
            self._break(1 if self._lists else 2)
            self._lists.append((tag, [1]))
        elif tag == "li":
            self._list_item()
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self._parts)))
        elif tag in _BLOCK_TAGS:
            self._break(2)
            if tag == "pre":
                self._pre += 1
        elif tag in _LINE_TAGS:
            self._break(1)
        elif tag in ("td", "th") and not self._line_start:
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag in ("ul", "ol"):
            if self._lists and self._lists[-1][0] == tag:
                self._lists.pop()
            self._break(1 if self._lists else 2)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag in _BLOCK_TAGS:
            if tag == "pre" and self._pre:
                self._pre -= 1
            self._break(2)
        elif tag in _LINE_TAGS or tag == "li":
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)
            if self._line_start:
                data = data.lstrip(" ")
        if data:
            self._emit(data)

    def _list_item(self) -> None:
        self._break(1)
        depth = max(len(self._lists) - 1, 0)
        if self._lists and self._lists[-1][0] == "ol":
            counter = self._lists[-1][1]
            marker = f"{counter[0]}. "
            counter[0] += 1
        else:
            marker = "- "
        self._emit("  " * depth + marker)
        self._line_start = True

    def _close_link(self, href: str | None, first: int) -> None:
        # Show where a link really goes: the visible text of a customer's link is theirs to
        # choose, and whoever reads it in Slack should not have to trust it.
        if not href or not href.lower().startswith(("https://", "http://", "mailto:")):
            return
        label = "".join(self._parts[first:]).strip()
        if label in (href, href.removeprefix("mailto:")):
            return
        self._emit(f" ({href})" if label else href)

    def _emit(self, text: str) -> None:
        self._parts.append(text)
        self._started = True
        stripped = text.rstrip("\n")
        trailing = len(text) - len(stripped)
        self._newlines = self._newlines + trailing if not stripped else trailing
        self._line_start = self._newlines > 0

    def _break(self, newlines: int) -> None:
        """End the current line, leaving `newlines` - 1 blank lines, without stacking breaks
        that adjacent block tags both ask for."""
        if self._started and self._newlines < newlines:
            self._emit("\n" * (newlines - self._newlines))

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self._parts).split("\n")]
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
