"""E-mail intake parsing: a corpus of real-world-shaped messages (tests/fixtures/email), the skip
rules, message-id normalisation, text trimming, and robustness against garbage input."""

# The corpus is multilingual on purpose: Cyrillic, full-width punctuation, typographic dashes.
# ruff: noqa: RUF001

from __future__ import annotations

import email.policy
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.email import Attachment, ParsedEmail, Skipped, normalize_message_id, parse_email
from integrations.email.parse import _company_from_domain, _parse, _thread_subject

FIXTURES = Path(__file__).parent / "fixtures" / "email"
ALL_FIXTURES = sorted(FIXTURES.glob("*.eml"))


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parsed(name: str) -> ParsedEmail:
    result = parse_email(load(name))
    assert isinstance(result, ParsedEmail), result
    return result


def message(headers: str, body: str | bytes = "Hello.\n", *, sender: str = "Dana <dana@acme.test>") -> bytes:
    """A minimal CRLF message: From plus the given header lines, then the body."""
    lines = [f"From: {sender}"] if sender else []
    lines += [line for line in headers.strip("\n").split("\n") if line]
    head = "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n"
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def parse_ok(raw: bytes) -> ParsedEmail:
    result = parse_email(raw)
    assert isinstance(result, ParsedEmail), result
    return result


# --- the corpus, one test per fixture ------------------------------------------------------------


def test_plain_utf8() -> None:
    mail = parsed("plain_utf8.eml")
    assert mail.message_id == "CAF8x2=plain.0001@mail.acme-corp.com"
    assert mail.subject == "Export to CSV fails with error 500"
    assert mail.thread_subject == "export to csv fails with error 500"
    assert (mail.sender_name, mail.sender_email, mail.company) == (
        "Dana Smith",
        "dana.smith@mail.acme-corp.com",
        "Acme-Corp",
    )
    assert mail.date == datetime(2026, 11, 23, 9, 14, 1, tzinfo=UTC)
    assert mail.text == (
        "Hi team,\n\n"
        'since this morning the CSV export in the reports tab fails with "error 500".\n'
        "Our café in Zürich can't close the month — naïve question: is it us?\n\n"
        "Thanks,\nDana"
    )
    assert mail.in_reply_to == mail.references == mail.attachments == ()
    assert mail.raw_size == len(load("plain_utf8.eml"))


def test_latin1_quoted_printable() -> None:
    mail = parsed("latin1_qp.eml")
    assert mail.subject == "Rechnung für März fehlt"
    assert (mail.sender_name, mail.sender_email, mail.company) == (
        "Jürgen Müller",
        "j.mueller@example-gmbh.de",
        "Example-Gmbh",
    )
    # The soft line break of quoted-printable is joined back into one line.
    assert "Könnten Sie sie bitte erneut schicken? Außerdem ist die Straße" in mail.text
    assert mail.text.endswith("Mit freundlichen Grüßen\nJürgen Müller")


def test_windows1252_outlook_reply_in_german() -> None:
    mail = parsed("windows1252_outlook_de.eml")
    assert mail.subject == "AW: WG: Re: [Ticket #88] Login klappt nicht"
    assert mail.thread_subject == "[ticket #88] login klappt nicht"
    assert mail.sender_name == "Anna Becker"  # Outlook's 'quoted' name unwrapped
    assert mail.company == "Kontor-Nord"
    assert mail.in_reply_to == ("sb.88.2@supportbridge.test",)
    assert mail.references == ("sb.88.1@supportbridge.test", "sb.88.2@supportbridge.test")
    # X-Auto-Response-Suppress is on ordinary Outlook mail: no skip. Smart quotes decoded; the
    # "Von: … Gesendet: …" block and the underscore rule above it are cut.
    assert mail.text == (
        "Hallo,\n\n"
        "es kommt weiterhin die Meldung „Ungültiges Passwort“ – auch nach dem Zurücksetzen… "
        "Der “Reset”-Link funktioniert nicht.\n\n"
        "Gruß\nAnna"
    )


def test_base64_utf8_with_emoji_and_mobile_footer() -> None:
    mail = parsed("base64_emoji.eml")
    assert mail.subject == "App crashes on launch 😱"
    assert mail.message_id == "E3A1B7C2-1D44-4F0B-9A0C-3C5D0E3B9F11@gmail.com"
    assert mail.sender_email == "priya.raman@gmail.com"
    assert mail.company is None  # free mail
    assert mail.date == datetime(2026, 11, 27, 3, 45, tzinfo=UTC)
    assert mail.text == (
        "Since the update the app crashes right after the splash screen 😱🔥\nTried reinstalling 👍 no luck."
    )


def test_koi8r_cyrillic() -> None:
    mail = parsed("koi8r_cyrillic.eml")
    assert mail.subject == "Не приходят уведомления"
    assert mail.thread_subject == "не приходят уведомления"
    assert (mail.sender_name, mail.sender_email, mail.company) == (
        "Иван Петров",
        "ivan.petrov@yandex.ru",
        None,
    )
    assert mail.text.startswith("Здравствуйте!\n\nУведомления о новых заказах перестали приходить на почту.")


def test_shift_jis_with_cp932_extension() -> None:
    mail = parsed("shift_jis_japanese.eml")
    assert mail.subject == "請求書の件について"
    assert (mail.sender_name, mail.sender_email, mail.company) == (
        "田中太郎",
        "tanaka@example.co.jp",
        "Example",
    )
    # ① is a cp932 extension: mail labelled Shift_JIS is decoded as cp932.
    assert (
        mail.text == "お世話になっております。\n\n①請求書の金額が間違っています。\nご確認をお願いいたします。"
    )


def test_gb2312_label_with_gbk_character() -> None:
    mail = parsed("gb2312_chinese.eml")
    assert mail.subject == "回复：账户无法登录"
    assert mail.thread_subject == "账户无法登录"
    assert (mail.sender_name, mail.company) == ("王小明", None)
    assert mail.text == "朱镕基先生的账户无法登录。"  # 镕 is in GBK, not in GB2312


def test_html_only() -> None:
    mail = parsed("html_only.eml")
    assert mail.subject == "Dashboard widgets missing"
    assert (mail.sender_name, mail.company) == ("Marketing Ops", "Globex")
    assert mail.text == (
        "Hello support,\n\n"
        "Two widgets vanished from our main dashboard (https://app.example.test/dash/42):\n\n"
        "- Revenue & costs\n- Churn rate\n\n"
        "Steps:\n1. log in\n2. open the dashboard\n\n"
        "Thanks — Ops"
    )


def test_multipart_alternative_prefers_plain_text() -> None:
    mail = parsed("multipart_alternative.eml")
    assert mail.text == "Do webhooks retry after a timeout? We saw one delivery missing."
    assert mail.company == "Initech"
    assert mail.attachments == ()


def test_mixed_with_attachments() -> None:
    mail = parsed("mixed_attachments.eml")
    assert mail.text == "Anbei die Rechnung und ein Screenshot des Fehlers."
    assert mail.company == "Vogel-Partner"
    assert mail.attachments == (
        Attachment("Rechnung März.pdf", 45),  # RFC 2231 filename*=UTF-8''…
        Attachment("Fehlerbild übersicht.png", 70),  # RFC 2047 in a quoted parameter, inline
        Attachment("export.log", 42),  # a text/plain attachment is not the body
    )


def test_gmail_reply() -> None:
    mail = parsed("gmail_reply.eml")
    assert mail.subject == "Re: RE: Export to CSV fails with error 500"
    assert mail.thread_subject == "export to csv fails with error 500"
    assert mail.in_reply_to == ("sb-reply-1@supportbridge.test",)
    assert mail.references == (
        "CAF8x2=plain.0001@mail.acme-corp.com",
        "sb-reply-1@supportbridge.test",
        "sb-note-7@supportbridge.test",
    )
    # The attribution line is wrapped over two lines; it and the quote are gone.
    assert mail.text == "Still failing today, same error. Is there a workaround?\n\nDana"


def test_outlook_original_message() -> None:
    mail = parsed("outlook_original_message.eml")
    assert mail.subject == "RE: SSO certificate rollover"
    assert mail.thread_subject == "sso certificate rollover"
    assert (mail.sender_name, mail.sender_email, mail.company) == (
        "Kim, Robert",
        "robert.kim@contoso-pharma.com",
        "Contoso-Pharma",
    )
    assert mail.text == (
        'We rotated the certificate yesterday. Users still get "invalid signature".\n\n'
        "Robert Kim\nIT Operations"
    )
    assert "Original Message" not in mail.text and "upload the new certificate" not in mail.text


def test_signature_and_format_flowed() -> None:
    mail = parsed("signature_flowed.eml")
    assert mail.company == "Umbrella-Labs"  # umbrella-labs.co.uk
    assert mail.text == (
        "Hello,\n\n"
        "it would help us a lot to archive many conversations at once, for example all conversations "
        "older than a year.\n\nCheers,\nChris"
    )


def test_auto_reply_is_skipped() -> None:
    assert parse_email(load("auto_reply.eml")) == Skipped("auto-reply (Auto-Submitted: auto-replied)")


def test_bounce_is_skipped() -> None:
    assert parse_email(load("bounce.eml")) == Skipped("bounce from mailer-daemon")


def test_mailing_list_is_skipped() -> None:
    assert parse_email(load("mailing_list.eml")) == Skipped("bulk mail (Precedence: list)")


def test_no_message_id_and_no_date() -> None:
    raw = load("no_message_id_no_date.eml")
    mail = parsed("no_message_id_no_date.eml")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", mail.message_id)
    assert parse_ok(raw).message_id == mail.message_id  # stable
    assert parse_ok(raw + b"\n").message_id != mail.message_id
    assert mail.date is None
    assert (mail.sender_name, mail.sender_email, mail.company) == (None, "ops@hooli.xyz", "Hooli")
    assert mail.text == "The print queue has been stuck since Friday."


def test_malformed_from_missing_bracket_is_recovered() -> None:
    mail = parsed("malformed_from_unclosed.eml")
    assert (mail.sender_name, mail.sender_email, mail.company) == ("Dana Smith", "dana@acme.test", "Acme")
    assert mail.text == 'The "Add user" button does nothing.'


def test_malformed_from_without_address_is_skipped() -> None:
    # "dana(at)acme.test" is no address: nobody to answer or attribute the card to.
    assert parse_email(load("malformed_from_obfuscated.eml")) == Skipped("no sender address")


def test_forwarded_as_attachment() -> None:
    mail = parsed("forwarded_rfc822.eml")
    assert mail.subject == "Fw: Invoice 4411 - overdue?"
    assert mail.thread_subject == "invoice 4411 - overdue?"
    assert mail.text == "We already paid this one, see the forwarded mail."
    # One attachment named after the forwarded subject; its own PDF stays inside it.
    assert [a.filename for a in mail.attachments] == ["Invoice 4411 – overdue?.eml"]
    assert 500 < mail.attachments[0].size < 700


def test_inline_forward_keeps_the_forwarded_text() -> None:
    mail = parsed("gmail_inline_forward.eml")
    assert mail.thread_subject == "payment failed"
    assert mail.text.startswith("FYI, a customer of ours got this.\n\n---------- Forwarded message ---------")
    assert mail.text.endswith("Your payment of 49 EUR failed: card declined.")


def test_mislabelled_charset() -> None:
    mail = parsed("mislabelled_charset.eml")  # says us-ascii, is UTF-8 (body and raw Subject)
    assert mail.subject == "Grüße — bug in €-prices"
    assert mail.sender_name == "Zoë Martin"
    assert mail.company == "Martin-Design"
    assert mail.text == "Prices show as “5 €” instead of “€5”. Merci, Zoë"


def test_nul_byte_and_very_long_line() -> None:
    mail = parsed("nul_long_line.eml")
    assert mail.message_id == "nul.22@pied-piper.com"
    assert mail.subject == "Log paste with spaces"
    assert "\x00" not in mail.text
    assert mail.text.startswith("Log follows:\nxxxx")
    assert len(mail.text) == 20_000 and mail.text.endswith("x…")


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda path: path.name)
def test_compat32_fallback_agrees_on_the_corpus(path: Path) -> None:
    raw = path.read_bytes()
    assert _parse(raw, email.policy.compat32) == _parse(raw, email.policy.default)


def test_corpus_size() -> None:
    assert len(ALL_FIXTURES) >= 14


# --- skip rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated", "auto-reply (Auto-Submitted: auto-generated)"),
        ("Auto-Submitted: Auto-Replied; owner-email=x@y.test", "auto-reply (Auto-Submitted: auto-replied)"),
        ("X-Autoreply: yes", "auto-reply (X-Autoreply)"),
        ("X-Autorespond: Out of office", "auto-reply (X-Autorespond)"),
        ("Precedence: bulk", "bulk mail (Precedence: bulk)"),
        ("Precedence: JUNK", "bulk mail (Precedence: junk)"),
        ("Precedence: auto_reply", "auto-reply (Precedence: auto_reply)"),
        ("List-Id: <dev.lists.example>", "bulk mail (List-Id)"),
        ("List-Unsubscribe: <https://news.example/u>", "bulk mail (List-Unsubscribe)"),
        (
            "Return-Path: <>\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
            "bounce (delivery-status report)",
        ),
    ],
)
def test_skip_rules(headers: str, reason: str) -> None:
    assert parse_email(message(headers)) == Skipped(reason)


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no",
        "X-Auto-Response-Suppress: All",  # Outlook sets it on ordinary mail
        "X-Auto-Response-Suppress: OOF",
        "Precedence: first-class",
        "Return-Path: <>",  # an empty envelope sender alone is not a bounce
        "Return-Path: <dana@acme.test>\nContent-Type: multipart/report; boundary=b",
    ],
)
def test_not_skipped(headers: str) -> None:
    assert isinstance(parse_email(message(headers)), ParsedEmail)


def test_postmaster_bounce() -> None:
    raw = message("Subject: failure notice", sender="postmaster@mail.acme.test")
    assert parse_email(raw) == Skipped("bounce from postmaster")


def test_too_large_is_skipped_before_parsing() -> None:
    raw = load("plain_utf8.eml")
    assert parse_email(raw, max_bytes=len(raw) - 1) == Skipped("message too large")
    assert isinstance(parse_email(raw, max_bytes=len(raw)), ParsedEmail)


@pytest.mark.parametrize(
    ("headers", "sender", "expected"),
    [
        ("Sender: Dana <dana@acme.test>", "undisclosed-recipients:;", "dana@acme.test"),
        ("Reply-To: help@acme.test", "", "help@acme.test"),
        ("", "Dana Smith dana@ACME.test", "dana@acme.test"),
        ("", "dana@", None),
        ("", "<>", None),
        ("", "", None),
    ],
)
def test_sender_fallbacks(headers: str, sender: str, expected: str | None) -> None:
    result = parse_email(message(headers, sender=sender))
    if expected is None:
        assert result == Skipped("no sender address")
    else:
        assert isinstance(result, ParsedEmail) and result.sender_email == expected


def test_sender_name_in_raw_utf8_and_equal_to_address() -> None:
    raw = message("", sender="J\u00fcrgen <j@x.de>")
    assert parse_ok(raw).sender_name == "Jürgen"
    assert parse_ok(message("", sender='"dana@acme.test" <dana@acme.test>')).sender_name is None


# --- message ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<A@B>", "A@B"),
        ("  <abc.123@mail.example.com>  ", "abc.123@mail.example.com"),
        ("<abc@x> (added by postmaster@x)", "abc@x"),
        ("(comment) <abc@x>", "abc@x"),
        ("<abc\r\n @x>", "abc@x"),  # folded inside the brackets
        ("abc@x", "abc@x"),
        ("  bare-id  ", "bare-id"),
        ("<<abc@x>>", "abc@x"),
        ("<first@x> <second@x>", "first@x"),
        ("", ""),
        ("   ", ""),
        ("<>", ""),
    ],
)
def test_normalize_message_id(value: str, expected: str) -> None:
    assert normalize_message_id(value) == expected


@pytest.mark.parametrize(
    ("references", "expected"),
    [
        ("<a@x> <b@x>\n\t<c@x>", ("a@x", "b@x", "c@x")),  # folded
        ("<a@x>,<b@x>", ("a@x", "b@x")),
        ("<a@x> (comment) <b@x> <a@x>", ("a@x", "b@x")),
        ("a@x b@x", ("a@x", "b@x")),
        ("<a@x> from Dana Smith on Monday", ("a@x",)),
        ("Your message of Monday", ()),
    ],
)
def test_references_split(references: str, expected: tuple[str, ...]) -> None:
    raw = message(f"References: {references}\nIn-Reply-To: {references}")
    mail = parse_ok(raw)
    assert mail.references == expected
    assert mail.in_reply_to == expected


def test_empty_message_id_gets_synthetic_id() -> None:
    raw = message("Message-ID: < >")
    assert parse_ok(raw).message_id.startswith("sha256:")


# --- subject, date, company ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Hello", "hello"),
        ("RE: Fwd: FW: AW: WG: Antw: SV: Hello", "hello"),
        ("Re[2]: Hello", "hello"),
        ("re : Hello", "hello"),
        ("Re: [Ticket #1] Re: Hello", "[ticket #1] re: hello"),
        ("[Ticket #1] Hello", "[ticket #1] hello"),
        ("Regarding:  the   invoice", "regarding: the invoice"),
        ("Re:", ""),
        ("(no subject)", ""),
    ],
)
def test_thread_subject(subject: str, expected: str) -> None:
    assert _thread_subject(subject) == expected


def test_subject_missing_empty_and_bounded() -> None:
    assert parse_ok(message("")).subject == "(no subject)"
    assert parse_ok(message("Subject:   \t ")).subject == "(no subject)"
    folded = parse_ok(message("Subject: a\n  b\tc"))
    assert folded.subject == "a b c"
    long = parse_ok(message("Subject: " + "word " * 300)).subject
    assert len(long) == 500 and long.endswith("…")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 23 Nov 2026 10:14:01 +0100", datetime(2026, 11, 23, 9, 14, 1, tzinfo=UTC)),
        ("23 Nov 2026 10:14:01 -0000", datetime(2026, 11, 23, 10, 14, 1, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 10:14:01 GMT", datetime(2026, 11, 23, 10, 14, 1, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        ("Mon, 99 Foo 2026 99:99:99 +9999", None),
    ],
)
def test_date(value: str, expected: datetime | None) -> None:
    assert parse_ok(message(f"Date: {value}")).date == expected


@pytest.mark.parametrize(
    ("domain", "company"),
    [
        ("acme.com", "Acme"),
        ("mail.acme-corp.com", "Acme-Corp"),
        ("support.acme.co.uk", "Acme"),
        ("acme.com.au", "Acme"),
        ("EXAMPLE.CO.JP", "Example"),
        ("xn--mnchen-3ya.de", "München"),
        ("gmail.com", None),
        ("googlemail.com", None),
        ("yahoo.co.uk", None),
        ("hotmail.fr", None),
        ("outlook.com", None),
        ("gmx.at", None),
        ("web.de", None),
        ("yandex.ru", None),
        ("mail.ru", None),
        ("qq.com", None),
        ("163.com", None),
        ("proton.me", None),
        ("icloud.com", None),
        ("localhost", None),
    ],
)
def test_company_from_domain(domain: str, company: str | None) -> None:
    assert _company_from_domain(domain) == company


# --- body text -------------------------------------------------------------------------------


def test_bottom_posted_reply_keeps_its_text() -> None:
    body = "On Mon, 23 Nov 2026 at 10:00, Support <s@x.test> wrote:\n> question?\n\nMy answer.\n"
    assert parse_ok(message("", body)).text == "My answer."


def test_attribution_needs_a_date() -> None:
    body = "On Monday our admin wrote:\nthe export is broken.\n"
    assert parse_ok(message("", body)).text == "On Monday our admin wrote:\nthe export is broken."


def test_localized_attribution() -> None:
    body = "Danke!\n\nAm 23.11.2026 um 10:00 schrieb Support <s@x.test>:\n> Bitte neu starten.\n"
    assert parse_ok(message("", body)).text == "Danke!"


def test_outlook_english_header_block() -> None:
    body = (
        "Works now, thanks.\n\n________________________________\n"
        "From: Support <s@x.test>\nSent: Monday, November 23, 2026 10:00 AM\nTo: Dana\n"
        "Subject: RE: x\n\nTry again.\n"
    )
    assert parse_ok(message("", body)).text == "Works now, thanks."


def test_html_gmail_reply_is_trimmed() -> None:
    html = (
        '<div dir="ltr">Thanks, fixed!</div><br><div class="gmail_quote">On Mon, Nov 23, 2026 at '
        "4:12 PM Support &lt;s@x.test&gt; wrote:<br><blockquote>Try again.</blockquote></div>"
    )
    raw = message("Content-Type: text/html; charset=utf-8", html)
    assert parse_ok(raw).text == "Thanks, fixed!"


@pytest.mark.parametrize(
    "footer",
    ["Sent from my iPhone", "Sent from my Galaxy", "Get Outlook for Android", "Von meinem iPad gesendet"],
)
def test_mobile_footers(footer: str) -> None:
    assert parse_ok(message("", f"It broke again.\n\n{footer}\n")).text == "It broke again."


def test_signature_delimiter_without_trailing_space() -> None:
    assert parse_ok(message("", "Text.\n--\nDana\n")).text == "Text."


@pytest.mark.parametrize("body", ["", "\n\n", "> only a quote\n", "-- \nsignature only\n"])
def test_text_is_never_empty(body: str) -> None:
    assert parse_ok(message("", body)).text == "(no text)"


def test_blank_plain_part_falls_back_to_html() -> None:
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\n \r\n--b\r\nContent-Type: text/html\r\n\r\n"
        "<p>Only <i>here</i></p>\r\n--b--\r\n"
    )
    raw = message("Content-Type: multipart/alternative; boundary=b", body)
    assert parse_ok(raw).text == "Only here"


def test_unknown_8bit_charset_falls_back_to_cp1252() -> None:
    raw = message("Content-Type: text/plain; charset=unknown-8bit", "café “ok”".encode("cp1252"))
    assert parse_ok(raw).text == "café “ok”"


def test_bogus_charset_name() -> None:
    raw = message("Content-Type: text/plain; charset=rot13", "Grüße".encode())
    assert parse_ok(raw).text == "Grüße"


def test_unnamed_and_path_attachments() -> None:
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee files.\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\nabc\r\n"
        '--b\r\nContent-Type: text/csv; name="../../home/dana/export.csv"\r\n\r\na,b\r\n'
        "--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <logo>\r\n\r\nxyz\r\n"
        "--b--\r\n"
    )
    mail = parse_ok(message("Content-Type: multipart/mixed; boundary=b", body))
    assert mail.text == "See files."
    assert mail.attachments == (
        Attachment("(unnamed application/octet-stream)", 3),
        Attachment("export.csv", 3),
    )


def test_forward_without_subject_or_name() -> None:
    inner = "From: a@b.test\r\n\r\nhi\r\n"
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nfwd\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}--b--\r\n"
    )
    mail = parse_ok(message("Content-Type: multipart/mixed; boundary=b", body))
    assert [a.filename for a in mail.attachments] == ["forwarded message.eml"]


def test_text_bound() -> None:
    mail = parse_ok(message("", "word " * 10_000))
    assert len(mail.text) == 20_000 and mail.text.endswith("…")


# --- robustness ------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def assert_sane(result: ParsedEmail | Skipped) -> None:
    if isinstance(result, Skipped):
        assert result.reason
        return
    for value in (
        result.subject,
        result.text,
        result.sender_email,
        result.message_id,
        result.sender_name or "",
    ):
        assert not _CONTROL.search(value)
        value.encode("utf-8")
    assert result.text and result.subject and "@" in result.sender_email
    assert len(result.text) <= 20_000 and len(result.subject) <= 500
    assert result.date is None or result.date.tzinfo is UTC


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda path: path.name)
def test_truncated_fixtures_never_raise(path: Path) -> None:
    raw = path.read_bytes()
    for cut in {0, 1, 7, 40, len(raw) // 4, len(raw) // 3, len(raw) // 2, len(raw) * 3 // 4, len(raw) - 3}:
        result = parse_email(raw[: max(cut, 0)])
        assert_sane(result)
        # The catch-all is a safety net, not a code path the corpus needs.
        assert not (isinstance(result, Skipped) and result.reason.startswith("unparseable"))


def test_garbage_never_raises() -> None:
    rng = random.Random(20261123)
    corpus = [path.read_bytes() for path in ALL_FIXTURES]
    samples = [b"", b"\x00", b"\r\n\r\n", b"From:\r\n\r\n", b":" * 1000, b"From: <" * 500]
    samples += [rng.randbytes(rng.randrange(1, 2000)) for _ in range(60)]
    for raw in corpus:
        mutated = bytearray(raw)
        for _ in range(20):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        samples.append(bytes(mutated))
    for raw in samples:
        assert_sane(parse_email(raw))


def test_catch_all_reports_only_the_exception_type() -> None:
    result = parse_email("From: secret@acme.test\n\nsecret body")  # type: ignore[arg-type]
    assert isinstance(result, Skipped)
    assert re.fullmatch(r"unparseable message: \w+", result.reason)


def test_many_parts_are_bounded() -> None:
    part = (
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=f\r\n\r\nx\r\n"
    )
    body = "--b\r\nContent-Type: text/plain\r\n\r\nLots of files.\r\n" + part * 1_500 + "--b--\r\n"
    mail = parse_ok(message("Content-Type: multipart/mixed; boundary=b", body))
    assert mail.text == "Lots of files."
    assert 900 < len(mail.attachments) < 1_000


def test_long_references_keep_the_newest_ids() -> None:
    references = " ".join(f"<id{index}@example.test>" for index in range(2_000))
    mail = parse_ok(message(f"References: {references}"))
    assert len(mail.references) == 2_000 and mail.references[-1] == "id1999@example.test"


# -- the subject of a report logged from a Slack message ----------------------------------------------


@pytest.mark.parametrize(
    ("message", "subject"),
    [
        (
            "Customer Globex says exports time out. They tried twice.\nMore below",
            "Customer Globex says exports time out.",
        ),
        ("\n\n  Checkout is down!  Everyone affected", "Checkout is down!"),
        ("Short one", "Short one"),
        ("", "Message from Slack"),
        ("v2.3.1 breaks the sync job. Please look", "v2.3.1 breaks the sync job."),
    ],
)
def test_a_slack_message_subject_is_its_first_sentence(message: str, subject: str) -> None:
    from bot.slack_text import subject_from_text

    assert subject_from_text(message) == subject


def test_a_long_first_sentence_is_cut_at_a_word() -> None:
    from bot.slack_text import SUBJECT_MAX, subject_from_text

    long = "When exporting " + "very " * 40 + "large invoices the page hangs"
    subject = subject_from_text(long)
    assert len(subject) <= SUBJECT_MAX and subject.endswith("very…") and "  " not in subject
