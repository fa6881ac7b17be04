"""Jira webhooks: the signature check and the parsing of real-shaped payloads (tests/fixtures/jira)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.jira import JiraSnapshot
from integrations.jira_webhook import (
    IGNORED_EVENTS,
    JiraEvent,
    MalformedWebhook,
    UnhandledEvent,
    is_ignored,
    parse_event,
    verify_signature,
)
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
SECRET = "It's a Secret to Everybody"
MARCUS = "712020:2c1f7c2a-5d4b-4a8e-9c1e-7a3b9f0d1e22"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- signature


def test_signature_good() -> None:
    body = fixture("issue_updated_status_change")
    assert verify_signature(SECRET, body, sign(body))
    assert verify_signature(SECRET, body, sign(body).upper().replace("SHA256=", "sha256="))
    assert verify_signature(SECRET, body, " " + sign(body) + " ")


def test_signature_known_vector() -> None:
    # An HMAC-SHA256 computed independently of the code under test (RFC 4231, test case 2).
    header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert verify_signature("Jefe", b"what do ya want for nothing?", header)


def test_signature_bad_body_secret_or_header() -> None:
    body = fixture("issue_updated_status_change")
    assert not verify_signature(SECRET, body + b" ", sign(body))  # body changed in transit
    assert not verify_signature("another secret", body, sign(body))
    assert not verify_signature(SECRET, body, sign(body)[:-2])
    assert not verify_signature(SECRET, body, "sha256=")
    assert not verify_signature(SECRET, body, sign(body).removeprefix("sha256="))  # no method=
    assert not verify_signature(SECRET, body, "sha256=ünïcödé")  # not hex, not even ASCII
    assert not verify_signature("", body, sign(body, ""))  # no secret configured: nothing passes


def test_signature_missing() -> None:
    body = fixture("issue_updated_status_change")
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "")


def test_signature_wrong_algorithm() -> None:
    body = fixture("issue_updated_status_change")
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert not verify_signature(SECRET, body, sha1)
    # the right digest under another algorithm's name is refused too
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert not verify_signature(SECRET, body, f"sha512={digest}")
    assert not verify_signature(SECRET, body, f"md5={digest}")


# --------------------------------------------------------------------------- fixtures


SNAPSHOT_FIELDS = {f.name for f in dataclasses.fields(JiraSnapshot)}


def event(**overrides: object) -> JiraEvent:
    base: dict[str, object] = {
        "kind": "updated",
        "key": "SUP-128",
        "issue_id": "10128",
        "timestamp": None,
        "labels": ("supportbridge", "supportbridge-problem-42", "billing"),
        "summary": "Checkout fails with card declined for EU customers",
        "changes": (),
        "actor_name": "Priya Shah",
    }
    snapshot: dict[str, object] = {"status": "To Do", "status_category": "new"}
    for name, value in overrides.items():
        (snapshot if name in SNAPSHOT_FIELDS else base)[name] = value
    return JiraEvent(**base, snapshot=JiraSnapshot(**snapshot))  # type: ignore[arg-type]


# The issue's own update time, fields.updated ("2024-06-18T14:02:11.482+0200"), read as UTC.
UPDATED = datetime(2024, 6, 18, 12, 2, 11, 482000, tzinfo=UTC)

MARCUS_FIELDS = {
    "assignee_name": "Marcus Lee",
    "assignee_account_id": MARCUS,
    "assignee_email": "marcus.lee@acme.example",
}

EXPECTED = {
    "issue_updated_status_change": event(
        timestamp=1718712131482,
        status="In Progress",
        status_category="indeterminate",
        updated_at=UPDATED,
        changes=(("status", "To Do", "In Progress"),),
        **MARCUS_FIELDS,
    ),
    "issue_updated_assignee_change": event(
        timestamp=1718700000000,
        changes=(("assignee", None, "Marcus Lee"),),
        updated_at=datetime(2024, 6, 18, 8, 40, tzinfo=UTC),
        **MARCUS_FIELDS,
    ),
    "issue_updated_resolved_done_fix_version": event(
        timestamp=1718712131999,
        status="Done",
        status_category="done",
        resolution="Done",
        fix_versions=("2024.06.2",),
        updated_at=UPDATED,
        changes=(
            ("resolution", None, "Done"),
            ("status", "In Progress", "Done"),
            ("Fix Version", None, "2024.06.2"),
        ),
        actor_name="Marcus Lee",
        **MARCUS_FIELDS,
    ),
    "issue_updated_resolved_wont_do": event(
        timestamp=1718712400000,
        status="Done",
        status_category="done",
        resolution="Won't Do",
        updated_at=UPDATED,
        changes=(("resolution", None, "Won't Do"), ("status", "To Do", "Done")),
    ),
    "issue_deleted": event(
        kind="deleted",
        timestamp=1718713000123,
        updated_at=UPDATED,
        status="In Progress",
        status_category="indeterminate",
        **MARCUS_FIELDS,
    ),
    # much left out: what is missing is None, never an exception; untracked fields not listed
    "issue_updated_partial": JiraEvent(
        kind="updated",
        key="SUP-7",
        issue_id=None,
        timestamp=None,
        snapshot=JiraSnapshot(status="In Review"),
        labels=(),
        summary=None,
        changes=(("status", "In Progress", "In Review"),),
        actor_name=None,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_expected_event(name: str) -> None:
    assert parse_event(fixture(name)) == EXPECTED[name]


def test_every_fixture_is_covered() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names == set(EXPECTED) | {"comment_created"}


def test_ignored_and_unknown_events_are_unhandled() -> None:
    assert parse_event(fixture("comment_created")) == UnhandledEvent("comment_created")
    assert is_ignored("comment_created")
    for name in ("worklog_updated", "sprint_started", "jira:version_unreleased", "issuelink_created"):
        assert name in IGNORED_EVENTS
        body = json.dumps({"webhookEvent": name, "issue": {"key": "SUP-1"}}).encode()
        assert parse_event(body) == UnhandledEvent(name)
    # unknown (e.g. added by Atlassian later): also unhandled, but not "ignored" - the handler logs it
    unknown = b'{"webhookEvent": "jira:issue_teleported", "issue": {}}'
    assert parse_event(unknown) == UnhandledEvent("jira:issue_teleported")
    assert not is_ignored("jira:issue_teleported")


def test_created_is_parsed_as_an_update_of_state() -> None:
    payload = json.loads(fixture("issue_updated_status_change"))
    payload["webhookEvent"] = "jira:issue_created"
    parsed = parse_event(json.dumps(payload).encode())
    assert isinstance(parsed, JiraEvent)
    assert (parsed.kind, parsed.snapshot.status) == ("updated", "In Progress")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is not JSON"),
        (b"webhookEvent=jira:issue_updated", "body is not JSON"),
        (b"\xff\xfe{}", "body is not JSON"),
        (b"[]", "body is not a JSON object"),
        (b'"jira:issue_updated"', "body is not a JSON object"),
        (b"{}", "no webhookEvent"),
        (b'{"webhookEvent": "jira:issue_updated"}', "jira:issue_updated without issue.key"),
        (
            b'{"webhookEvent": "jira:issue_deleted", "issue": {"id": "1"}}',
            "jira:issue_deleted without issue.key",
        ),
        (
            b'{"webhookEvent": "jira:issue_updated", "issue": {"key": ""}}',
            "jira:issue_updated without issue.key",
        ),
        (b'{"webhookEvent": "jira:issue_updated", "issue": "SUP-1"}', "jira:issue_updated without issue.key"),
    ],
)
def test_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedWebhook) as raised:
        parse_event(body)
    assert raised.value.reason == reason


def test_wrong_types_inside_a_known_event_are_none_not_errors() -> None:
    body = {
        "webhookEvent": "jira:issue_updated",
        "timestamp": "yesterday",
        "user": "Priya",
        "issue": {
            "id": 10128,
            "key": "SUP-1",
            "fields": {"status": "Done", "assignee": [], "fixVersions": {"name": "1.0"}, "labels": [1, "ok"]},
        },
        "changelog": {"items": [None, {"field": "status", "fromString": 3, "toString": "Done"}]},
    }
    parsed = parse_event(json.dumps(body).encode())
    assert parsed == JiraEvent(
        kind="updated",
        key="SUP-1",
        issue_id="10128",
        timestamp=None,
        snapshot=JiraSnapshot(),
        labels=("ok",),
        summary=None,
        changes=(("status", None, "Done"),),
        actor_name=None,
    )


# --------------------------------------------------------------------------- FakeJira's payloads


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_fake_webhook_payloads_round_trip() -> None:
    async with FakeJira() as fake:
        marcus = fake.add_user("Marcus Lee", "marcus.lee@acme.example")
        key = fake.create_issue("PROJ", "Checkout fails", labels=["supportbridge-problem-42"])

        fake.set_assignee(key, marcus)
        assigned = parse_event(json.dumps(fake.webhook_payload("jira:issue_updated", key)).encode())
        assert isinstance(assigned, JiraEvent)
        assignee = (assigned.snapshot.assignee_name, assigned.snapshot.assignee_account_id)
        assert assignee == ("Marcus Lee", marcus)
        assert assigned.changes == (("assignee", None, "Marcus Lee"),)
        assert assigned.actor_name == "Jamie Engineer"  # the fake's default person

        fake.set_status(key, "In Progress", by=marcus)
        started = parse_event(json.dumps(fake.webhook_payload("jira:issue_updated", key)).encode())
        assert isinstance(started, JiraEvent)
        assert (started.snapshot.status, started.snapshot.status_category) == ("In Progress", "indeterminate")
        assert (started.changes, started.actor_name) == ((("status", "To Do", "In Progress"),), "Marcus Lee")
        assert started.snapshot.updated_at is not None and assigned.snapshot.updated_at is not None
        assert started.snapshot.updated_at > assigned.snapshot.updated_at  # Jira's own order of changes

        fake.resolve(key, "Done", fix_versions=["2.4.0"], by=marcus)
        payload = fake.webhook_payload("jira:issue_updated", key)
        assert payload["issue_event_type_name"] == "issue_resolved"
        resolved = parse_event(json.dumps(payload).encode())
        assert resolved == JiraEvent(
            kind="updated",
            key=key,
            issue_id=fake.issue(key)["id"],
            timestamp=payload["timestamp"],
            snapshot=JiraSnapshot(
                status="Done",
                status_category="done",
                assignee_name="Marcus Lee",
                assignee_account_id=marcus,
                assignee_email="marcus.lee@acme.example",
                resolution="Done",
                fix_versions=("2.4.0",),
                updated_at=datetime.strptime(fake.issue(key)["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z"),
            ),
            labels=("supportbridge-problem-42",),
            summary="Checkout fails",
            changes=(
                ("status", "In Progress", "Done"),
                ("resolution", None, "Done"),
                ("Fix Version", None, "2.4.0"),
            ),
            actor_name="Marcus Lee",
        )

        # explicit changes and actor, e.g. reopened as Won't Do by someone else
        other = fake.add_user("Priya Shah")
        fake.resolve(key, "Won't Do")
        custom = fake.webhook_payload(
            "jira:issue_updated", key, changes=[("resolution", "Done", "Won't Do")], user="Priya Shah"
        )
        assert custom["user"]["accountId"] == other
        assert custom["changelog"]["items"][0]["to"] == "10001"  # the resolution's id filled in
        reopened = parse_event(json.dumps(custom).encode())
        assert isinstance(reopened, JiraEvent) and reopened.snapshot.resolution == "Won't Do"
        assert reopened.changes == (("resolution", "Done", "Won't Do"),)

        fake.delete_issue(key)
        deleted = parse_event(json.dumps(fake.webhook_payload("jira:issue_deleted", key)).encode())
        assert isinstance(deleted, JiraEvent) and (deleted.kind, deleted.key) == ("deleted", key)
        assert "changelog" not in fake.webhook_payload("jira:issue_deleted", key)
        fake.assert_no_violations()


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_fake_payload_has_the_fixture_shape() -> None:
    # The same top-level and changelog-item keys as the saved Jira Cloud payload.
    async with FakeJira() as fake:
        key = fake.create_issue("PROJ", "Broken")
        fake.resolve(key, "Done", fix_versions=["1.0"])
        built = fake.webhook_payload("jira:issue_updated", key)
    saved = json.loads(fixture("issue_updated_resolved_done_fix_version"))
    assert set(built) == set(saved)
    assert {k for i in built["changelog"]["items"] for k in i} == {
        k for i in saved["changelog"]["items"] for k in i
    }
    assert set(built["issue"]) == set(saved["issue"])
    for name in ("status", "assignee", "resolution", "fixVersions", "labels", "summary"):
        assert name in built["issue"]["fields"]
