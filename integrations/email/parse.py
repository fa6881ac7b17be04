"""Support-mailbox intake, parsing layer: raw RFC 822 bytes in, a `ParsedEmail` (or the reason
the message is `Skipped`) out. Pure code: no network, no IMAP, no database.

The message is parsed with `email.policy.default`; when that policy's stricter header parser
chokes on something, the whole message is parsed again with `compat32`, and single header values
it cannot decode fall back to the compat32-era tolerant helpers (`getaddresses`, encoded words
decoded here). `parse_email` never raises.

Company from the sender's domain: the registrable label, i.e. the label left of the public
suffix, title-cased: "mail.acme-corp.com" -> "Acme-Corp", "support.acme.co.uk" -> "Acme". The
suffix is the last label, or the last two when they look like a ccTLD second level ("co.uk",
"com.au", "ac.jp" …); punycode labels are shown in Unicode. Free-mail providers give None.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy

from integrations.helpdesks.intercom import html_to_text

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
MAX_SUBJECT_CHARS = 500
MAX_FILENAME_CHARS = 255
NO_SUBJECT = "(no subject)"
NO_TEXT = "(no text)"
FORWARDED_FILENAME = "forwarded message.eml"
# Bounds on work per message, far above real mail: header values longer than this are cut
# before decoding (the output is bounded anyway, and the default policy's recursive-descent
# parser is slow on pathological input) …
_MAX_HEADER_CHARS = 8_000
# … MIME parts beyond this many are ignored (the default policy parses each part's headers at
# about 0.2 ms apiece, and a 10 MB message can hold 100 000 parts) …
_MAX_PARTS = 1_000
# … and body text is cut before quote trimming and HTML conversion: the result is bounded to
# 20 000 characters, and what follows this far down is quoted history or a data dump.
_MAX_BODY_CHARS = 300_000


@dataclass(frozen=True)
class Attachment:
    filename: str
    size: int  # bytes, decoded


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    thread_subject: str
    sender_name: str | None
    sender_email: str
    company: str | None
    date: datetime | None
    text: str
    attachments: tuple[Attachment, ...]
    raw_size: int


@dataclass(frozen=True)
class Skipped:
    reason: str


def parse_email(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedEmail | Skipped:
    """Parse one message from the support mailbox; automatic mail (auto-replies, bulk and list
    mail, bounces) and messages without a usable sender come back as `Skipped`."""
    # Checked before parsing: the feed parser would hold the whole oversized message in memory.
    if len(raw) > max_bytes:
        return Skipped("message too large")
    try:
        if raw.count(b"\n--") > _MAX_PARTS:
            # The default policy builds a header object for every part while parsing, 7 times
            # slower than compat32: seconds for a message with many thousands of parts.
            return _parse(raw, email.policy.compat32)
        try:
            return _parse(raw, email.policy.default)
        except Exception:
            # The default policy parses headers lazily and strictly; some malformed ones raise
            # deep inside it. compat32 treats every header as an opaque string.
            return _parse(raw, email.policy.compat32)
    except Exception as exc:
        # Last line of defence for one bad message in a mailbox; the type only, never content.
        return Skipped(f"unparseable message: {type(exc).__name__}")


def normalize_message_id(value: str) -> str:
    """The first message id in a header value, without angle brackets, comments or whitespace;
    "" when there is none."""
    ids = _message_ids(value)
    return ids[0] if ids else ""


def _parse(raw: bytes, policy: Policy) -> ParsedEmail | Skipped:
    message = BytesParser(policy=policy).parsebytes(raw)
    headers = _Headers(message)
    sender = _sender(headers)
    reason = _skip_reason(headers, message, sender[1] if sender else None)
    if reason is not None:
        return Skipped(reason)
    if sender is None:
        return Skipped("no sender address")
    sender_name, sender_email = sender
    subject = _subject(headers.text("Subject"))
    body = _body_part(message)
    return ParsedEmail(
        message_id=_message_id(headers.first("Message-ID"), raw),
        in_reply_to=tuple(_message_ids(headers.joined("In-Reply-To"))),
        references=tuple(_message_ids(headers.joined("References"))),
        subject=subject,
        thread_subject=_thread_subject(subject),
        sender_name=sender_name,
        sender_email=sender_email,
        company=_company_from_domain(sender_email.rpartition("@")[2]),
        date=_date(headers.first("Date")),
        text=_body_text(body, forwarded=_is_forward(subject)),
        attachments=tuple(_attachments(message, body)),
        raw_size=len(raw),
    )


# --- headers -------------------------------------------------------------------------------


class _Headers:
    """Case-insensitive access to a message's raw header values (as the parser stored them:
    8-bit bytes kept as surrogate escapes), decoded on demand."""

    def __init__(self, message: Message) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            self._values.setdefault(name.lower(), []).append(str(value))

    def first(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return _unfold(values[0][:_MAX_HEADER_CHARS]) if values else None

    def all(self, name: str) -> list[str]:
        return [_unfold(value[:_MAX_HEADER_CHARS]) for value in self._values.get(name.lower(), [])]

    def joined(self, name: str) -> str:
        """All values of a header, uncut: the newest ids of References come last."""
        return " ".join(_unfold(value) for value in self._values.get(name.lower(), []))

    def text(self, name: str) -> str:
        value = self.first(name)
        return "" if value is None else _decode_header_text(name, value)


def _unfold(value: str) -> str:
    # RFC 5322 §2.2.3: unfolding removes the CRLF and keeps the whitespace after it.
    return re.sub(r"\r?\n|\r", "", value)


def _decode_header_text(name: str, value: str) -> str:
    """An unstructured header value as text: RFC 2047 encoded words and raw 8-bit bytes decoded."""
    try:
        decoded: str | None = str(email.policy.default.header_factory(name, value))
    except Exception:
        decoded = None  # the default policy's header parser gives up on some malformed values
    if decoded is None or _looks_undecoded(decoded):
        # Undecodable charsets come out as U+FFFD or lone surrogates; redo it tolerantly.
        decoded = _decode_encoded_words(_raw_to_text(value))
    return _clean(decoded)


def _looks_undecoded(text: str) -> bool:
    return "\ufffd" in text or _SURROGATES.search(text) is not None


def _raw_to_text(value: str) -> str:
    """Raw header text with its 8-bit bytes (non-RFC 2047 UTF-8 or Latin-1, which many mailers
    send) decoded as charset-sniffed text."""
    if not _SURROGATES.search(value):
        return value
    return _decode_bytes(value.encode("utf-8", "surrogateescape"), None)


_SURROGATES = re.compile("[\ud800-\udfff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")


def _decode_encoded_words(value: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        # RFC 2047 §6.2: whitespace between two adjacent encoded words is not displayed.
        if not (parts and gap.strip() == "" and position > 0):
            parts.append(gap)
        parts.append(_decode_encoded_word(match))
        position = match.end()
    parts.append(value[position:])
    return "".join(parts)


def _decode_encoded_word(match: re.Match[str]) -> str:
    charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5: charset*language
    encoded = match.group(3).encode("ascii", "replace")
    try:
        if match.group(2) in "Bb":
            data = base64.b64decode(encoded + b"=" * (-len(encoded) % 4))
        else:
            data = binascii.a2b_qp(encoded, header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return _decode_bytes(data, charset)


# --- charsets --------------------------------------------------------------------------------

# Labels that mail software uses for a larger charset than the label says (WHATWG Encoding
# Standard does the same for the web): mail "iso-8859-1" routinely contains cp1252 smart quotes,
# "gb2312" contains GBK characters, "shift_jis" contains cp932 (NEC/IBM) extensions.
_CHARSET_SUPERSETS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "tis-620": "cp874",
}
# Python text codecs that are not charsets: they interpret escapes or hostnames.
_NOT_CHARSETS = frozenset({"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined"})


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes as text: the declared charset if it decodes cleanly, else UTF-8, else cp1252, else
    Latin-1 (which decodes anything). Mislabelled mail, mostly 8-bit UTF-8 declared as us-ascii,
    is common, and "unknown-8bit" is a label mailers use when they do not know either."""
    candidates = []
    if charset:
        label = charset.strip().strip('"').lower()
        candidates.append(_CHARSET_SUPERSETS.get(label, label))
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        if candidate.replace("-", "_") in _NOT_CHARSETS:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


# --- sender ----------------------------------------------------------------------------------

_ADDRESS = re.compile(r'[^\s@<>()\[\],;:"\\]+@(?:[^\s@<>()\[\],;:"\\.]+\.)+[^\s@<>()\[\],;:"\\.]{2,}')


def _sender(headers: _Headers) -> tuple[str | None, str] | None:
    """(display name, lowercased address) of the author. RFC 5322 §3.6.2: Sender names the
    mailbox responsible when From does not hold a usable one; Reply-To is where answers go."""
    for name in ("From", "Sender", "Reply-To"):
        value = headers.first(name)
        if value:
            found = _first_address(name, value)
            if found is not None:
                return found
    return None


def _first_address(name: str, value: str) -> tuple[str | None, str] | None:
    candidates: list[tuple[str, str]]
    try:
        header = email.policy.default.header_factory(name, value)
        candidates = [(address.display_name, address.addr_spec) for address in header.addresses]
    except Exception:
        candidates = []  # the default policy's address parser raises on some malformed lists
    # compat32-era parser: tolerant where the default one gives up (e.g. a missing ">")
    candidates += email.utils.getaddresses([value])
    for display_name, address in candidates:
        # SMTPUTF8 (RFC 6531) addresses arrive as raw 8-bit bytes.
        address = _clean(_raw_to_text(address)).strip().lower()
        if _ADDRESS.fullmatch(address):
            return _display_name(display_name, address), address
    found = _ADDRESS.search(_clean(_raw_to_text(value)).lower())
    return (None, found.group(0)) if found else None


def _display_name(raw: str, address: str) -> str | None:
    name = " ".join(_clean(_decode_encoded_words(_raw_to_text(raw))).split())
    # Outlook quotes names with single quotes inside the double ones: "'Dana Smith'".
    name = name.strip("'\" ")
    if not name or name.lower() == address:
        return None
    return name


# --- company ---------------------------------------------------------------------------------

# Second-level labels under which ccTLDs register names: "acme.co.uk", "acme.com.au".
_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "ac", "edu", "ltd", "plc", "ne", "or", "go", "gob", "gouv", "nhs"}
)
_FREE_MAIL_DOMAINS = frozenset(
    {
        "163.com", "126.com", "yeah.net", "qq.com", "foxmail.com", "sina.com", "sohu.com",
        "aim.com", "att.net", "bellsouth.net", "comcast.net", "cox.net", "sbcglobal.net",
        "verizon.net", "earthlink.net", "icloud.com", "me.com", "mac.com", "msn.com",
        "proton.me", "pm.me", "tutanota.com", "tutanota.de", "tuta.io", "tuta.com",
        "fastmail.com", "fastmail.fm", "hey.com", "hushmail.com", "zoho.com", "zohomail.com",
        "mail.com", "email.com", "usa.com", "inbox.com", "mail.ru", "inbox.ru", "list.ru",
        "bk.ru", "rambler.ru", "ya.ru", "web.de", "t-online.de", "freenet.de", "posteo.de",
        "mailbox.org", "arcor.de", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
        "libero.it", "virgilio.it", "tiscali.it", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
        "onet.pl", "bluewin.ch", "btinternet.com", "sky.com", "virginmedia.com", "ntlworld.com",
        "shaw.ca", "rogers.com", "sympatico.ca", "naver.com", "daum.net", "hanmail.net",
        "rediffmail.com", "bigpond.com", "optusnet.com.au", "uol.com.br", "bol.com.br",
        "terra.com.br", "gmx.com",
    }
)  # fmt: skip
# Providers with one domain per country (yahoo.co.uk, hotmail.fr, gmx.at, yandex.kz …).
_FREE_MAIL_LABELS = frozenset(
    {
        "gmail", "googlemail", "yahoo", "ymail", "rocketmail", "hotmail", "outlook", "live",
        "windowslive", "aol", "gmx", "yandex", "protonmail",
    }
)  # fmt: skip


def _company_from_domain(domain: str) -> str | None:
    """The organisation behind an e-mail domain, for the card; None for free-mail providers and
    for domains without a registrable label."""
    labels = [label for label in domain.strip().lower().rstrip(".").split(".") if label]
    if len(labels) < 2:
        return None
    size = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    registrable = labels[-size:]
    if ".".join(registrable) in _FREE_MAIL_DOMAINS or registrable[0] in _FREE_MAIL_LABELS:
        return None
    return _unicode_label(registrable[0]).title()


def _unicode_label(label: str) -> str:
    if label.startswith("xn--"):
        try:
            return label.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            return label
    return label


# --- skip rules ------------------------------------------------------------------------------


def _skip_reason(headers: _Headers, message: Message, sender: str | None) -> str | None:
    """Why a message is automatic and must not become a card, or None. Bounces are checked
    first: they usually carry Auto-Submitted too, and "bounce" is the more useful reason."""
    # RFC 3464: bounces come from the mail system's own mailboxes …
    local_part = sender.partition("@")[0] if sender else ""
    if local_part in ("mailer-daemon", "postmaster"):
        return f"bounce from {local_part}"
    # … and RFC 5321 §4.5.5 gives them an empty envelope sender so they are never bounced back.
    null_sender = any(value.replace(" ", "") == "<>" for value in headers.all("Return-Path"))
    if null_sender and message.get_content_type() == "multipart/report":
        return "bounce (delivery-status report)"
    auto_submitted = headers.first("Auto-Submitted")
    if auto_submitted is not None:
        # RFC 3834 §5: anything but "no" is machine-generated (auto-replied, auto-generated …).
        value = _token(auto_submitted)
        if value != "no":
            return f"auto-reply (Auto-Submitted: {value})"
    for name in ("X-Autoreply", "X-Autorespond"):
        # Pre-RFC 3834 vacation responders (Exim, cPanel, older Exchange) mark themselves so.
        if headers.first(name) is not None:
            return f"auto-reply ({name})"
    precedence = headers.first("Precedence")
    if precedence is not None:
        # De-facto standard (RFC 3834 §3.1.8): answering these would reply to a list or a robot.
        value = _token(precedence)
        if value == "auto_reply":
            return "auto-reply (Precedence: auto_reply)"
        if value in ("bulk", "junk", "list"):
            return f"bulk mail (Precedence: {value})"
    for name in ("List-Id", "List-Unsubscribe"):
        # RFC 2919 / RFC 2369: only mailing lists and newsletters carry these.
        if headers.first(name) is not None:
            return f"bulk mail ({name})"
    return None


def _token(value: str) -> str:
    return _clean(value.split(";", 1)[0]).strip().lower()[:40]


# --- ids, subject, date ----------------------------------------------------------------------

_BRACKETED_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")


def _message_ids(value: str) -> list[str]:
    """Message ids in order, deduplicated. RFC 5322 §3.6.4 ids are bracketed; unbracketed
    values (old mailers) are split on whitespace, keeping the tokens that look like ids."""
    value = _clean(_raw_to_text(value))
    bracketed = ["".join(found.split()) for found in _BRACKETED_ID.findall(value)]
    if bracketed:
        ids = bracketed
    else:
        tokens = [token.strip("<>") for token in re.split(r"[\s,]+", _COMMENT.sub(" ", value))]
        tokens = [token for token in tokens if token]
        # A lone token is an id; among several, the others are free text ("<id> from Dana …").
        ids = tokens if len(tokens) == 1 else [token for token in tokens if "@" in token]
    return list(dict.fromkeys(found for found in ids if found))


def _message_id(value: str | None, raw: bytes) -> str:
    normalized = normalize_message_id(value or "")
    return normalized or f"sha256:{hashlib.sha256(raw).hexdigest()}"


def _subject(decoded: str) -> str:
    return _bound(" ".join(decoded.split()), MAX_SUBJECT_CHARS) or NO_SUBJECT


# Reply and forward prefixes across mail clients' locales: German AW/WG, Dutch Antw, Nordic
# SV/VS, French TR, Spanish RV, Polish Odp, Portuguese Res/Enc, Chinese 回复/答复/转发 (often
# with a full-width colon); "Re[2]:" and "Re(2):" counters.
_PREFIX = re.compile(
    r"^\s*(re|fw|fwd|aw|wg|antw|antwort|sv|vs|vb|tr|rv|odp|res|enc|r[ée]f|回复|答复|转发)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]\s*",
    re.IGNORECASE,
)
_FORWARD_PREFIXES = frozenset({"fw", "fwd", "wg", "tr", "rv", "vb", "enc", "转发"})


def _thread_subject(subject: str) -> str:
    """The subject for matching replies to a thread: leading reply/forward prefixes removed,
    bracketed tags kept, lowercased; "" when nothing is left (or there was no subject)."""
    if subject == NO_SUBJECT:
        return ""
    while True:
        match = _PREFIX.match(subject)
        if match is None:
            return " ".join(subject.split()).lower()
        subject = subject[match.end() :]


def _is_forward(subject: str) -> bool:
    match = _PREFIX.match(subject)
    return match is not None and match.group(1).lower() in _FORWARD_PREFIXES


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_clean(value))
        if parsed.tzinfo is None:
            # RFC 5322 §3.3: "-0000" means the time is UTC and the local zone is unknown.
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- MIME structure --------------------------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """Leaf parts in document order. An attached message (message/rfc822) is one leaf: its own
    body and attachments belong to the forwarded mail, not to this one."""
    stack = [message]
    for _ in range(_MAX_PARTS):
        if not stack:
            return
        part = stack.pop()
        payload = part.get_payload()
        if part.get_content_maintype() != "message" and part.is_multipart() and isinstance(payload, list):
            stack.extend(sub for sub in reversed(payload) if isinstance(sub, Message))
        else:
            yield part


def _body_part(message: Message) -> Message | None:
    """The part holding the message text: text/plain before text/html, parts without a filename
    before inline parts with one (Apple Mail sends attachments as inline, named parts)."""
    candidates: list[tuple[bool, bool, int, Message]] = []
    for index, part in enumerate(_parts(message)):
        kind = _text_kind(part)
        if kind is not None and part.get_content_disposition() != "attachment":
            candidates.append((part.get_filename() is not None, kind != "plain", index, part))
    candidates.sort(key=lambda candidate: candidate[:3])
    for *_, part in candidates:
        if _part_text(part).strip():
            return part
    return candidates[0][3] if candidates else None


def _text_kind(part: Message) -> str | None:
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    if maintype == "text" and subtype in ("plain", "html"):
        return subtype
    if maintype == "multipart" and not part.is_multipart():
        return "plain"  # a multipart without a usable boundary: the parser kept it as one text
    return None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _decode_bytes(payload, part.get_content_charset())


def _attachments(message: Message, body: Message | None) -> Iterator[Attachment]:
    for part in _parts(message):
        if part is body:
            continue
        if part.get_content_type() in ("message/rfc822", "message/global"):
            yield _forwarded(part)
            continue
        filename = _filename(part)
        if filename is not None or part.get_content_disposition() == "attachment":
            yield Attachment(filename or f"(unnamed {part.get_content_type()})", _decoded_size(part))


def _filename(part: Message) -> str | None:
    """The part's file name: RFC 2231 parameters (decoded by the parser), RFC 2047 encoded words
    (not standard in parameters, but Outlook and Gmail send them), path components removed."""
    name = part.get_filename()
    if name is None:
        return None
    name = " ".join(_clean(_decode_encoded_words(_raw_to_text(str(name)))).split())
    # Old Windows clients send the full local path.
    name = re.split(r"[\\/]", name)[-1].strip()
    return _bound(name, MAX_FILENAME_CHARS) or None


def _decoded_size(part: Message) -> int:
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _forwarded(part: Message) -> Attachment:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    name = _filename(part)
    size = 0
    if isinstance(inner, Message):
        if name is None:
            subject = " ".join(_Headers(inner).text("Subject").split())
            name = _bound(f"{subject}.eml", MAX_FILENAME_CHARS) if subject else None
        size = _serialized_size(inner)
    return Attachment(name or FORWARDED_FILENAME, size)


def _serialized_size(message: Message) -> int:
    try:
        return len(message.as_bytes(policy=email.policy.compat32))
    except (ValueError, TypeError, LookupError, UnicodeError):
        return 0


# --- body text -------------------------------------------------------------------------------


def _body_text(part: Message | None, *, forwarded: bool) -> str:
    if part is None:
        return NO_TEXT
    text = _part_text(part)[:_MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    elif str(part.get_param("format", "")).lower() == "flowed":
        text = _unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    lines = _clean(text).split("\n")
    if not forwarded:
        lines = _trim_quotes(lines)
    lines = _trim_signature(lines)
    return _bound(_tidy(lines), MAX_TEXT_CHARS) or NO_TEXT


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next line of the same
    quote depth; a leading space is stuffing (§4.4); "-- " stays the signature separator."""
    lines: list[str] = []
    pending: tuple[int, str] | None = None
    for line in text.split("\n"):
        content = line.lstrip(">")
        depth = len(line) - len(content)
        content = content.removeprefix(" ")
        if pending is not None:
            if pending[0] == depth:
                content = pending[1] + content
            else:
                lines.append(_quoted(*pending))
            pending = None
        if content.endswith(" ") and content != "-- ":
            pending = (depth, content[:-1] if delsp else content)
        else:
            lines.append(_quoted(depth, content))
    if pending is not None:
        lines.append(_quoted(*pending))
    return "\n".join(lines)


def _quoted(depth: int, content: str) -> str:
    return f"{'>' * depth} {content}" if depth else content


_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|il|op|em|den|på|w dniu)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|skrev|napisał)\b.{0,200}?:\s*$|"
    r"\b(wrote|escribió|escreveu)\s*:\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht|originalmeddelande|opprinnelig melding)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(from|von|de|da|van|från|fra|od)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|skickat|sendt|data)\s*:",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado)"
    r"\s*-{2,}|begin forwarded message:)\s*$",
    re.IGNORECASE,
)


def _trim_quotes(lines: list[str]) -> list[str]:
    """Drop the quoted conversation under a reply: from the attribution line ("On … wrote:")
    or Outlook's "-----Original Message-----" / "From: … Sent: …" block to the end, and any
    line quoted with ">". A reply written below the quote (nothing new above it) keeps its text."""
    for index, line in enumerate(lines):
        if _FORWARD_MARKER.match(line):
            break  # a forwarded message inline: the forwarded text is what the customer sends us
        header_lines = _quote_header(lines, index)
        if header_lines == 0:
            continue
        above = [text for text in lines[:index] if text.strip() and not text.lstrip().startswith(">")]
        if above:
            lines = _drop_trailing_rules(lines[:index])
        elif _ATTRIBUTION_START.match(line):
            lines = lines[:index] + lines[index + header_lines :]
        break
    return [line for line in lines if not line.lstrip().startswith(">")]


def _drop_trailing_rules(lines: list[str]) -> list[str]:
    # Outlook draws a line of underscores above its "From: … Sent: …" block.
    while lines and re.fullmatch(r"[\s_=*-]*", lines[-1]):
        lines = lines[:-1]
    return lines


def _quote_header(lines: list[str], index: int) -> int:
    """How many lines starting at `index` make a quote header; 0 when it is not one."""
    line = lines[index]
    if _ORIGINAL_MESSAGE.match(line):
        return 1
    if _HEADER_FROM.match(line) and any(_HEADER_SENT.match(text) for text in lines[index + 1 : index + 5]):
        return 1
    if _ATTRIBUTION_START.match(line):
        # Gmail and Apple Mail wrap a long attribution line; it always carries a date or time.
        for count in (1, 2, 3):
            joined = " ".join(lines[index : index + count])
            if len(joined) <= 400 and re.search(r"\d", joined) and _ATTRIBUTION_END.search(joined):
                return count
    return 0


_MOBILE_FOOTER = re.compile(
    r"(sent from my \w[\w ]{0,40}|sent from (yahoo mail|mail|outlook|aol)\b.{0,40}|"
    r"get outlook for \w+.{0,60}|von meinem \w[\w ]{0,30} gesendet|envoyé de mon \w[\w ]{0,30}|"
    r"enviado desde mi \w[\w ]{0,30}|inviato da \w[\w ]{0,30}|verzonden vanaf mijn \w[\w ]{0,30})",
    re.IGNORECASE,
)


def _trim_signature(lines: list[str]) -> list[str]:
    """Cut at the RFC 3676 §4.3 signature separator "-- " (many clients strip its trailing
    space) or at a mobile client's "Sent from my iPhone" footer."""
    for index, line in enumerate(lines):
        if line.rstrip() == "--" or _MOBILE_FOOTER.fullmatch(line.strip()):
            return lines[:index]
    return lines


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- helpers ---------------------------------------------------------------------------------

# Control characters other than tab and newline, and lone surrogates: PostgreSQL text rejects
# NUL, Slack renders the others as boxes, and surrogates cannot be encoded as UTF-8.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _bound(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
