"""Zendesk and Intercom webhook adapters: signature checks and payload mapping, over fixtures
shaped as each vendor documents its webhooks."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.intake import Customer, CustomerAnswer, IntakeRequest, Severity
from integrations.helpdesks import zendesk
from integrations.helpdesks.intercom import html_to_text, map_intercom_webhook
from integrations.helpdesks.signatures import (
    INTERCOM_MAX_AGE,
    SignatureError,
    sign_intercom,
    sign_zendesk,
    verify_intercom,
    verify_zendesk,
)
from integrations.helpdesks.types import Ignored, IntakeAuthError, Mapped, PayloadError
from integrations.helpdesks.zendesk import TRIGGER_BODY_TEMPLATE, map_zendesk_webhook

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
NOW_UNIX = 1795428000
HOSTILE = "<!channel> <https://evil.example/approve|Approve>"


def raw(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / f"{name}.json").read_bytes()


def load(vendor: str, name: str) -> dict[str, Any]:
    return json.loads(raw(vendor, name))


def mapped(result: Mapped | Ignored) -> Mapped:
    assert isinstance(result, Mapped), result
    return result


# --- Zendesk: event-subscription webhooks -------------------------------------------------------


def test_zendesk_ticket_created_event_maps_every_field() -> None:
    result = mapped(map_zendesk_webhook(raw("zendesk", "ticket_created_event"), subdomain="acme"))

    assert result.delivery_id == "6d1c2b9e-4f0a-4a57-9a0e-2f6b3c1d8e77"
    assert result.request == IntakeRequest(
        external_id="48213",
        source="zendesk",
        subject="CSV export truncated at 10k rows",
        body="Since this morning every CSV export stops at 10,000 rows.\n"
        "The file downloads but is cut off mid-line.",
        customer=Customer(id="21873409876"),
        severity=Severity.HIGH,
        tags=["export", "csv", "enterprise"],
        url="https://acme.zendesk.com/agent/tickets/48213",
        created_at=datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC),
    )


def test_zendesk_event_without_subdomain_has_no_link() -> None:
    result = mapped(map_zendesk_webhook(load("zendesk", "ticket_created_event")))
    assert result.request.url is None
    assert result.request.external_id == "48213"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("ticket_status_changed_event", "zen:event-type:ticket.status_changed is not a ticket creation"),
    ],
)
def test_zendesk_ticket_events_other_than_creation_are_ignored(fixture: str, reason: str) -> None:
    assert map_zendesk_webhook(raw("zendesk", fixture), subdomain="acme") == Ignored(reason)


def test_zendesk_non_ticket_event_is_ignored() -> None:
    payload = load("zendesk", "ticket_created_event")
    payload["type"] = "zen:event-type:user.created"
    assert map_zendesk_webhook(payload) == Ignored(
        "unsupported Zendesk payload type zen:event-type:user.created"
    )


def test_zendesk_event_missing_ticket_id_names_the_field() -> None:
    with pytest.raises(PayloadError, match=r"^detail\.id: missing$"):
        map_zendesk_webhook(raw("zendesk", "ticket_created_event_missing_id"))


def test_zendesk_event_without_subject_takes_the_description_first_line() -> None:
    payload = load("zendesk", "ticket_created_event")
    payload["detail"]["subject"] = ""
    result = mapped(map_zendesk_webhook(payload))
    assert result.request.subject == "Since this morning every CSV export stops at 10,000 rows."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["detail"].update(tags="export csv"), r"^detail\.tags: must be a list of strings$"),
        (lambda p: p["detail"].update(id="48213a"), r"^detail\.id: must be a number$"),
        (lambda p: p["detail"].pop("requester_id"), r"^detail\.requester_id: missing$"),
        (lambda p: p["detail"].update(created_at="yesterday"), r"^detail\.created_at: must be an ISO-8601"),
        (lambda p: p.update(detail=["48213"]), r"^detail: must be an object$"),
        (lambda p: p.pop("detail"), r"^detail: missing$"),
        (lambda p: p.pop("type"), r"^type: missing$"),
        (lambda p: p["detail"].update(subject="", description=""), r"^detail\.subject: missing$"),
        (lambda p: p["detail"].update(subject={"text": "x"}), r"^detail\.subject: must be a string$"),
    ],
)
def test_zendesk_malformed_event_names_the_field(change: Any, message: str) -> None:
    payload = load("zendesk", "ticket_created_event")
    change(payload)
    with pytest.raises(PayloadError, match=message):
        map_zendesk_webhook(payload)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "body: must be a JSON object"),
        (b"\xff", "body: not valid JSON"),
    ],
)
def test_zendesk_body_that_is_not_a_json_object(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{message}$"):
        map_zendesk_webhook(body)


def test_zendesk_subdomain_must_be_bare() -> None:
    with pytest.raises(ValueError, match="subdomain"):
        map_zendesk_webhook(raw("zendesk", "ticket_created_event"), subdomain="evil.example/x?")


# --- Zendesk: trigger webhooks -----------------------------------------------------------------


def test_zendesk_trigger_body_maps_every_field() -> None:
    result = mapped(map_zendesk_webhook(raw("zendesk", "trigger_ticket")))

    assert result.delivery_id is None
    assert result.request == IntakeRequest(
        external_id="48214",
        source="zendesk",
        subject="SSO login loops back to the sign-in page",
        body="After the IdP redirect we land on /login again.\n\nSteps:\n"
        '1. Click "Sign in with Okta"\n2. Authenticate\n3. Back at /login',
        customer=Customer(
            id="21873400042",
            name="Priya Raman",
            email="priya.raman@globex.example",
            company="Globex Corporation",
        ),
        severity=Severity.URGENT,
        tags=["sso", "okta", "enterprise_plan"],
        url="https://acme.zendesk.com/agent/tickets/48214",
        created_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
    )


def test_zendesk_trigger_hostile_text_is_kept_verbatim_for_the_views_to_escape() -> None:
    request = mapped(map_zendesk_webhook(raw("zendesk", "trigger_ticket_hostile"))).request

    assert request.subject == "<!channel> <https://evil.example/approve|Approve> refund now"
    assert request.body == (
        "<!here> *URGENT* please click <https://evil.example/login|this Slack login> and paste your token.\n"
        "<@U012ABCDEF> `rm -rf`"
    )
    assert request.customer == Customer(
        id="21873400666", name="<!everyone> Mallory", email="mallory@evil.example", company=None
    )
    assert request.severity is Severity.NORMAL
    assert request.tags == []
    assert request.url == "https://acme.zendesk.com/agent/tickets/48215"


def test_zendesk_trigger_unicode_and_requester_without_id() -> None:
    ticket = load("zendesk", "trigger_ticket_unicode")["ticket"]
    request = mapped(map_zendesk_webhook(raw("zendesk", "trigger_ticket_unicode"))).request

    assert request.subject == ticket["title"]
    assert request.subject.endswith("日本語の請求書 🧾")
    assert request.body == ticket["description"]
    assert request.body.splitlines()[2] == "请尽快修复 🙏"
    assert request.customer == Customer(
        id="ZOE@Müller.example",
        name="Zoë Ångström-Nakamura",
        email="zoe@müller.example",
        company="Müller & Söhne GmbH",
    )
    assert request.severity is Severity.LOW
    assert request.tags == ["i18n", "billing", "de", "ja"]
    assert request.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("Low", Severity.LOW),
        ("normal", Severity.NORMAL),
        ("HIGH", Severity.HIGH),
        ("Urgent", Severity.URGENT),
        ("", Severity.NORMAL),
        ("-", Severity.NORMAL),
        ("Dringend", Severity.NORMAL),
    ],
)
def test_zendesk_priority_to_severity(priority: str, severity: Severity) -> None:
    payload = load("zendesk", "trigger_ticket")
    payload["ticket"]["priority"] = priority
    assert mapped(map_zendesk_webhook(payload)).request.severity is severity


def test_zendesk_unrendered_template_is_refused() -> None:
    # The "Test webhook" button in Zendesk sends the body with its placeholders unrendered.
    with pytest.raises(PayloadError, match=r"^ticket\.id: must be a number$"):
        map_zendesk_webhook(TRIGGER_BODY_TEMPLATE.encode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(id=""), r"^ticket\.id: missing$"),
        (lambda t: t.update(link="acme.zendesk.com/agent/tickets/48214"), r"^ticket\.link: must be an http"),
        (
            lambda t: t.update(requester={"id": "", "name": "X", "email": ""}),
            r"^ticket\.requester\.id: missing$",
        ),
        (lambda t: t.update(requester="Priya"), r"^ticket\.requester: must be an object$"),
        (lambda t: t.update(created_at="23/11/2026"), r"^ticket\.created_at: must be an ISO-8601"),
        (lambda t: t.update(title="", description=" \n "), r"^ticket\.title: missing$"),
        (lambda t: t.update(tags=["sso"]), r"^ticket\.tags: must be a string$"),
        (
            lambda t: t["requester"].update(id="9" * 300),
            r"^ticket\.requester\.id: String should have at most",
        ),
    ],
)
def test_zendesk_malformed_trigger_body_names_the_field(change: Any, message: str) -> None:
    payload = load("zendesk", "trigger_ticket")
    change(payload["ticket"])
    with pytest.raises(PayloadError, match=message):
        map_zendesk_webhook(payload)


def test_zendesk_overlong_text_is_clipped_not_refused() -> None:
    payload = load("zendesk", "trigger_ticket")
    payload["ticket"]["requester"]["name"] = "x" * 300
    payload["ticket"]["description"] = "y" * 30_000
    request = mapped(map_zendesk_webhook(payload)).request
    assert request.customer.name == "x" * 254 + "…"
    assert len(request.body) == 20_000


def test_zendesk_trigger_template_is_the_documented_one_and_renders_to_a_mappable_body() -> None:
    assert zendesk.__doc__ is not None
    lines = zendesk.__doc__.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() == "{")
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    last = lines.index(indent + "}", first)
    documented = textwrap.dedent("\n".join(lines[first : last + 1])) + "\n"
    assert documented == TRIGGER_BODY_TEMPLATE

    values = {
        "ticket.id": "48214",
        "ticket.title": "SSO login loops back to the sign-in page",
        "ticket.description": "After the IdP redirect we land on /login again.",
        "ticket.priority": "High",
        "ticket.tags": "sso okta",
        "ticket.link": "https://acme.zendesk.com/agent/tickets/48214",
        "ticket.created_at_with_timestamp": "2026-11-23T09:58Z",
        "ticket.requester.id": "21873400042",
        "ticket.requester.name": "Priya Raman",
        "ticket.requester.email": "priya.raman@globex.example",
        "ticket.organization.name": "Globex Corporation",
    }
    rendered = TRIGGER_BODY_TEMPLATE
    for placeholder, value in values.items():
        rendered = rendered.replace("{{" + placeholder + "}}", value)
    assert "{{" not in rendered

    request = mapped(map_zendesk_webhook(rendered.encode())).request
    assert (request.external_id, request.severity, request.tags) == ("48214", Severity.HIGH, ["sso", "okta"])
    assert request.customer.company == "Globex Corporation"


# --- Intercom ----------------------------------------------------------------------------------


def test_intercom_conversation_user_created_maps_every_field() -> None:
    result = mapped(map_intercom_webhook(raw("intercom", "conversation_user_created")))

    assert result.delivery_id == "notif_9c1a7e52-3b8d-4f0e-a6d2-51c0e8f4b7a3"
    assert result.request == IntakeRequest(
        external_id="215468730184561",
        source="intercom",
        subject="Invoice shows the wrong VAT",
        body="Hi team,\n\nOur November invoice charges 19% VAT but we're in Austria (20%).\n\n"
        "- Invoice: INV-2026-1107\n- Account: Globex & Co\n\nThanks,\nSam",
        customer=Customer(
            id="5ee3d479d1cf3dedbee23d68", name="Sam Okafor", email="sam.okafor@globex.example"
        ),
        severity=Severity.HIGH,
        tags=["billing", "vip"],
        url="https://app.intercom.com/a/apps/lkqcyt9t/conversations/215468730184561",
        created_at=datetime(2026, 11, 23, 9, 58, 41, tzinfo=UTC),
    )


def test_intercom_lead_without_subject_hostile_text_and_unicode() -> None:
    result = mapped(map_intercom_webhook(load("intercom", "conversation_lead_no_subject")))
    request = result.request

    first_line = (
        f"{HOSTILE} — the app crashes when I open «Rapports» on my iPhone 📱, "
        "every single time I try it after the update"
    )
    assert request.body == f"{first_line}\n\nOpen the crash log (https://evil.example/phish)"
    assert request.subject == first_line[:79].rstrip() + "…"
    assert len(request.subject) == 80
    assert request.customer == Customer(id="6512aa01c3b4d5e6f7a8b9c0")
    assert request.severity is Severity.NORMAL
    assert request.tags == []
    assert request.url == "https://app.eu.intercom.com/a/apps/lkqcyt9t/conversations/215468730184599"
    assert request.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert result.delivery_id == "notif_0b7e3c11-9d42-4a8f-bc55-2e6f1a0d9c84"


@pytest.mark.parametrize(
    ("fixture", "topic", "reason"),
    [
        ("ping", None, "topic ping does not open an issue"),
        (
            "conversation_user_replied",
            "conversation.admin.replied",
            "topic conversation.admin.replied does not open an issue",
        ),
        (
            "conversation_user_created",
            "conversation.admin.single.created",
            "topic conversation.admin.single.created does not open an issue",
        ),
        (
            "conversation_user_created",
            "conversation.admin.closed",
            "topic conversation.admin.closed does not open an issue",
        ),
    ],
)
def test_intercom_other_topics_are_ignored(fixture: str, topic: str | None, reason: str) -> None:
    payload = load("intercom", fixture)
    if topic:
        payload["topic"] = topic
    assert map_intercom_webhook(payload) == Ignored(reason)


def test_intercom_missing_conversation_id_names_the_field() -> None:
    with pytest.raises(PayloadError, match=r"^data\.item\.id: missing$"):
        map_intercom_webhook(raw("intercom", "conversation_missing_item_id"))


def test_intercom_conversation_opened_for_the_customer_takes_the_contact() -> None:
    payload = load("intercom", "conversation_user_created")
    payload["data"]["item"]["source"]["author"] = {
        "type": "admin",
        "id": "3330619",
        "name": "Andy",
        "email": "a@x.io",
    }
    request = mapped(map_intercom_webhook(payload)).request
    assert request.customer == Customer(id="5ee3d479d1cf3dedbee23d68")


def test_intercom_without_link_has_no_url() -> None:
    payload = load("intercom", "conversation_user_created")
    del payload["data"]["item"]["links"]
    assert mapped(map_intercom_webhook(payload)).request.url is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("topic"), r"^topic: missing$"),
        (lambda p: p.pop("data"), r"^data: missing$"),
        (lambda p: p["data"].pop("item"), r"^data\.item: missing$"),
        (lambda p: p["data"]["item"].update(type="ticket"), r"^data\.item\.type: must be 'conversation'$"),
        (lambda p: p["data"]["item"].pop("source"), r"^data\.item\.source: missing$"),
        (
            lambda p: p["data"]["item"]["source"].update(subject="", body="<p> </p>"),
            r"^data\.item\.source\.body: missing$",
        ),
        (
            lambda p: p["data"]["item"]["source"].pop("author") and p["data"]["item"].pop("contacts"),
            r"^data\.item\.source\.author\.id: missing$",
        ),
        (
            lambda p: p["data"]["item"]["tags"].update(tags="billing"),
            r"^data\.item\.tags\.tags: must be a list$",
        ),
        (
            lambda p: p["data"]["item"]["tags"]["tags"].append("vip"),
            r"^data\.item\.tags\.tags\[2\]: must be an object$",
        ),
        (
            lambda p: p["data"]["item"].update(created_at="2026-11-23"),
            r"^data\.item\.created_at: must be a unix timestamp$",
        ),
        (
            lambda p: p["data"]["item"]["links"].update(conversation_web="javascript:alert(1)"),
            r"^data\.item\.links\.conversation_web: must be an http",
        ),
        (
            lambda p: p["data"]["item"]["source"]["author"].update(id="x" * 300),
            r"^data\.item\.source\.author\.id: ",
        ),
    ],
)
def test_intercom_malformed_notification_names_the_field(change: Any, message: str) -> None:
    payload = load("intercom", "conversation_user_created")
    change(payload)
    with pytest.raises(PayloadError, match=message):
        map_intercom_webhook(payload)


def test_intercom_raw_bytes_and_decoded_payload_map_alike() -> None:
    assert map_intercom_webhook(raw("intercom", "conversation_user_created")) == map_intercom_webhook(
        load("intercom", "conversation_user_created")
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            "<p>Hello&nbsp;there &amp; welcome</p><p>Second<br>line</p>",
            "Hello there & welcome\n\nSecond\nline",
        ),
        ("<p>a<br><br>b</p>", "a\n\nb"),
        (
            "<p>Steps:</p><ol><li>Open</li><li>Click <b>Pay</b></li></ol>"
            "<ul><li>a<ul><li>nested</li></ul></li><li>b</li></ul><p>end</p>",
            "Steps:\n\n1. Open\n2. Click Pay\n\n- a\n  - nested\n- b\n\nend",
        ),
        ("<script>alert(1)</script><style>p{color:red}</style><p>kept</p>", "kept"),
        ("&lt;!channel&gt; &#60;@U1&#62; &quot;q&quot; &#x1F680;", '<!channel> <@U1> "q" 🚀'),
        ('<a href="https://x.io">https://x.io</a> <a href="javascript:alert(1)">js</a>', "https://x.io js"),
        (
            '<a href="mailto:a@b.io">a@b.io</a> <a href="https://evil.example">Docs</a>',
            "a@b.io Docs (https://evil.example)",
        ),
        ("<pre>code\n  indented</pre><p>after</p>", "code\n  indented\n\nafter"),
        ('<div class="intercom-container"><img src="x.png"/></div><p>  spaced   out  </p>', "spaced out"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


# --- Signatures --------------------------------------------------------------------------------

ZD_SECRET = "zd-secret-Tq8v"
IC_SECRET = "ic-secret-9Kx2"
ZD_TIMESTAMP = "2026-11-23T10:00:00Z"


def test_sign_zendesk_matches_an_independent_computation() -> None:
    # openssl dgst -sha256 -hmac zd-secret -binary <<< '2026-11-23T10:00:00Z{"type":"ping"}' | base64
    assert (
        sign_zendesk("zd-secret", b'{"type":"ping"}', ZD_TIMESTAMP)
        == "97PLNfmf60GKWG14dORuzlD4q8WP/B+uR0k1Tzqhuro="
    )


def test_sign_intercom_matches_an_independent_computation() -> None:
    # openssl dgst -sha1 -hmac ic-secret <<< '{"topic":"ping"}'
    assert sign_intercom("ic-secret", b'{"topic":"ping"}') == "sha1=bc381b3382c0643458b5cec2879e1f8dd9c5a846"


def test_zendesk_valid_signature() -> None:
    body = raw("zendesk", "ticket_created_event")
    verify_zendesk(ZD_SECRET, body, sign_zendesk(ZD_SECRET, body, ZD_TIMESTAMP), ZD_TIMESTAMP, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_zendesk_timestamp_at_the_edge_of_the_window_passes(offset: int) -> None:
    body = raw("zendesk", "trigger_ticket")
    stamp = (NOW + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    verify_zendesk(ZD_SECRET, body, sign_zendesk(ZD_SECRET, body, stamp), stamp, now=NOW)


def _zendesk_failure(**overrides: Any) -> SignatureError:
    body = raw("zendesk", "trigger_ticket")
    args: dict[str, Any] = {
        "secret": ZD_SECRET,
        "body": body,
        "signature": sign_zendesk(ZD_SECRET, body, ZD_TIMESTAMP),
        "timestamp": ZD_TIMESTAMP,
        "now": NOW,
    }
    args.update(overrides)
    with pytest.raises(SignatureError) as caught:
        verify_zendesk(**args)
    assert ZD_SECRET not in str(caught.value) and "Priya" not in str(caught.value)
    return caught.value


def test_zendesk_wrong_secret() -> None:
    body = raw("zendesk", "trigger_ticket")
    assert (
        _zendesk_failure(signature=sign_zendesk("another-secret", body, ZD_TIMESTAMP)).reason
        == "signature mismatch"
    )


def test_zendesk_tampered_body() -> None:
    tampered = raw("zendesk", "trigger_ticket").replace(b'"Urgent"', b'"Low"')
    assert _zendesk_failure(body=tampered).reason == "signature mismatch"


def test_zendesk_signature_for_another_timestamp() -> None:
    body = raw("zendesk", "trigger_ticket")
    other = sign_zendesk(ZD_SECRET, body, "2026-11-23T09:59:59Z")
    assert _zendesk_failure(signature=other).reason == "signature mismatch"


@pytest.mark.parametrize("seconds_since_signed", [301, -301, 86_400])
def test_zendesk_stale_or_future_timestamp(seconds_since_signed: int) -> None:
    error = _zendesk_failure(now=NOW + timedelta(seconds=seconds_since_signed))
    assert error.reason == "signature timestamp outside the allowed window"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"signature": None}, "missing X-Zendesk-Webhook-Signature header"),
        ({"signature": ""}, "missing X-Zendesk-Webhook-Signature header"),
        ({"timestamp": None}, "missing X-Zendesk-Webhook-Signature-Timestamp header"),
        ({"timestamp": "yesterday"}, "malformed signature timestamp"),
        ({"signature": "not base64 ✗"}, "signature mismatch"),
    ],
)
def test_zendesk_missing_or_malformed_headers(overrides: dict[str, Any], reason: str) -> None:
    assert _zendesk_failure(**overrides).reason == reason


def test_signature_error_is_an_intake_auth_error() -> None:
    assert issubclass(SignatureError, IntakeAuthError)
    assert str(SignatureError("signature mismatch")) == "signature mismatch"


def _intercom_body(created_at: int) -> bytes:
    payload = load("intercom", "conversation_user_created")
    payload["created_at"] = created_at
    return json.dumps(payload).encode()


def test_intercom_valid_signature() -> None:
    body = raw("intercom", "conversation_user_created")
    verify_intercom(IC_SECRET, body, sign_intercom(IC_SECRET, body), now=NOW)


def test_intercom_documented_retry_a_minute_later_still_passes() -> None:
    # Intercom retries a failed delivery once, about a minute later, with the same created_at.
    body = raw("intercom", "conversation_user_created")
    verify_intercom(IC_SECRET, body, sign_intercom(IC_SECRET, body), now=NOW + timedelta(seconds=65))
    verify_intercom(IC_SECRET, body, sign_intercom(IC_SECRET, body), now=NOW + INTERCOM_MAX_AGE)


def _intercom_failure(body: bytes | None = None, signature: str | None = "sign", **kwargs: Any) -> str:
    body = raw("intercom", "conversation_user_created") if body is None else body
    if signature == "sign":
        signature = sign_intercom(IC_SECRET, body)
    with pytest.raises(SignatureError) as caught:
        verify_intercom(IC_SECRET, body, signature, **{"now": NOW, **kwargs})
    assert IC_SECRET not in caught.value.reason and "Okafor" not in caught.value.reason
    return caught.value.reason


def test_intercom_wrong_secret() -> None:
    body = raw("intercom", "conversation_user_created")
    assert _intercom_failure(signature=sign_intercom("another-secret", body)) == "signature mismatch"


def test_intercom_tampered_body() -> None:
    body = raw("intercom", "conversation_user_created")
    tampered = body.replace(b'"priority": "priority"', b'"priority": "not_priority"')
    assert tampered != body
    assert _intercom_failure(body=tampered, signature=sign_intercom(IC_SECRET, body)) == "signature mismatch"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing X-Hub-Signature header"),
        ("", "missing X-Hub-Signature header"),
        ("bc381b3382c0643458b5cec2879e1f8dd9c5a846", "malformed signature header"),
        ("sha256=bc381b3382c0643458b5cec2879e1f8dd9c5a846", "malformed signature header"),
        ("sha1=", "malformed signature header"),
    ],
)
def test_intercom_missing_or_malformed_header(signature: str | None, reason: str) -> None:
    assert _intercom_failure(signature=signature) == reason


def test_intercom_stale_notification_is_refused() -> None:
    body = _intercom_body(NOW_UNIX - 301)
    assert _intercom_failure(body=body) == "notification too old"


def test_intercom_notification_from_the_future_is_refused() -> None:
    body = _intercom_body(NOW_UNIX + 301)
    assert _intercom_failure(body=body) == "notification created in the future"
    verify_intercom(
        IC_SECRET,
        _intercom_body(NOW_UNIX + 300),
        sign_intercom(IC_SECRET, _intercom_body(NOW_UNIX + 300)),
        now=NOW,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"topic": "ping"}', "notification created_at missing"),
        (b'{"topic": "ping", "created_at": "1795428000"}', "notification created_at missing"),
        (b'{"topic": "ping", "created_at": 1e300}', "notification created_at invalid"),
        (b"[1795428000]", "notification body is not a JSON object"),
        (b"not json", "notification body is not a JSON object"),
    ],
)
def test_intercom_signed_body_without_usable_created_at(body: bytes, reason: str) -> None:
    assert _intercom_failure(body=body) == reason


# --- Customers' answers on existing tickets and conversations -----------------------------------


def test_zendesk_public_comment_by_the_requester_is_a_customer_answer() -> None:
    assert map_zendesk_webhook(raw("zendesk", "ticket_comment_added_event")) == CustomerAnswer(
        source="zendesk",
        conversation_id="48213",
        delivery_id="c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e1f",
        text="Any update? We need this for the board meeting.",
        author_name="Dana Whitfield",
        at=datetime(2026, 11, 23, 10, 20, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"author": {"id": "1", "is_staff": True, "name": "Agent"}}, "a comment by an agent"),
        ({"is_public": False}, "an internal note"),
    ],
)
def test_zendesk_agent_comments_and_internal_notes_are_ignored(change: dict[str, Any], reason: str) -> None:
    payload = load("zendesk", "ticket_comment_added_event")
    payload["event"]["comment"].update(change)
    assert map_zendesk_webhook(payload) == Ignored(reason)


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("is_public", "yes", r"^event\.comment\.is_public: must be true or false$"),
        ("author", None, r"^event\.comment\.author: missing$"),
        ("id", None, r"^event\.comment\.id: missing$"),
    ],
)
def test_zendesk_malformed_comment_names_the_field(path: str, value: Any, error: str) -> None:
    payload = load("zendesk", "ticket_comment_added_event")
    payload["event"]["comment"][path] = value
    with pytest.raises(PayloadError, match=error):
        map_zendesk_webhook(payload)


def test_zendesk_comment_text_is_cleaned_of_control_characters() -> None:
    payload = load("zendesk", "ticket_comment_added_event")
    payload["event"]["comment"]["body"] = f"{HOSTILE}\x00\u202e\r\nsecond line"
    answer = map_zendesk_webhook(payload)
    assert isinstance(answer, CustomerAnswer)
    assert answer.text == f"{HOSTILE}\nsecond line"


def test_intercom_user_reply_is_a_customer_answer() -> None:
    assert map_intercom_webhook(load("intercom", "conversation_user_replied")) == CustomerAnswer(
        source="intercom",
        conversation_id="215468730184561",
        delivery_id="notif_5f2d8a90-7c1b-4e3a-9d6f-0a1b2c3d4e5f",
        text="Any news on this?",
        author_name="Sam Okafor",
        author_email="sam.okafor@globex.example",
        at=datetime.fromtimestamp(1795428600, tz=UTC),
    )


def test_intercom_reply_takes_the_newest_customer_comment_never_an_admins() -> None:
    payload = load("intercom", "conversation_user_replied")
    parts = payload["data"]["item"]["conversation_parts"]["conversation_parts"]
    customer = parts[0]
    admin = {**customer, "id": "9981230045", "body": "<p>We are on it</p>"}
    admin["author"] = {"type": "admin", "id": "814860", "name": "Support", "email": "support@acme.test"}
    note = {**customer, "id": "9981230046", "part_type": "note", "body": "<p>internal</p>"}
    parts.extend([admin, note])
    answer = map_intercom_webhook(payload)
    assert isinstance(answer, CustomerAnswer) and answer.text == "Any news on this?"

    parts[:] = [admin]
    assert map_intercom_webhook(payload) == Ignored(
        "conversation.user.replied carries no comment by the customer"
    )


def test_intercom_reply_without_parts_names_the_field() -> None:
    payload = load("intercom", "conversation_user_replied")
    del payload["data"]["item"]["conversation_parts"]
    with pytest.raises(PayloadError, match=r"^data\.item\.conversation_parts: missing$"):
        map_intercom_webhook(payload)
