"""Outbox payloads are a wire contract: rows written by earlier code decode, every kind round-trips,
and a payload this code cannot read is refused with the reason, never guessed at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.domain.outbox import (
    PAYLOADS,
    DigestChart,
    Ephemeral,
    OutboxKind,
    PayloadError,
    Post,
    PostRenderer,
    RationaleRequest,
    SyncCard,
    TellHosts,
    decode_payload,
)

FIXTURE = Path(__file__).parent / "fixtures" / "outbox" / "payloads_before_versions.json"


def stored_rows() -> list[dict[str, object]]:
    return list(json.loads(FIXTURE.read_text())["rows"])


def test_every_kind_has_one_payload_type_and_the_fixture_covers_them_all() -> None:
    assert set(PAYLOADS) == set(OutboxKind)
    assert {row["kind"] for row in stored_rows()} == {kind.value for kind in OutboxKind}


@pytest.mark.parametrize("row", stored_rows(), ids=lambda row: str(row["kind"]))
def test_a_payload_written_before_versions_still_decodes_and_reencodes_the_same(
    row: dict[str, object],
) -> None:
    payload = decode_payload(str(row["kind"]), row["payload"])
    assert row["kind"] == payload.KIND
    again = payload.encode()
    assert again.pop("v") == 1
    # What is written again is what was stored, less the fields that read back as their default.
    stored = dict(row["payload"])  # type: ignore[call-overload]
    assert again == {k: v for k, v in stored.items() if k in again}
    assert decode_payload(payload.KIND, again) == payload


def test_decoded_fields_are_typed() -> None:
    rows = {json.dumps(r["payload"], sort_keys=True): r for r in stored_rows()}
    confirmation = next(r for r in rows.values() if r["payload"].get("note"))  # type: ignore[attr-defined]
    decoded = decode_payload("ephemeral", confirmation["payload"])
    assert decoded == Ephemeral(
        channel="C0123", user="U0ANA", note=Ephemeral.INTAKE_CONFIRMATION, issue_id=42, created=True
    )
    swap = decode_payload(
        "shadow_tell_hosts", {"session": 9, "what": "swapped", "user": "U0BEN", "from": "U0ANA"}
    )
    assert swap == TellHosts(session=9, what="swapped", user="U0BEN", swapped_from="U0ANA")
    assert decode_payload("rationale_request", {"problem_id": 3}) == RationaleRequest(
        problem_id=3, to="thread"
    )


@pytest.mark.parametrize(
    "payload",
    [
        SyncCard(1),
        Post(channel="C1", key="k", render=PostRenderer.DIGEST.value, args={"start": "a"}, edit=True),
        TellHosts(session=2, what="swapped", user="U1", swapped_from="U2"),
        DigestChart(key="d", start="s", end="e"),
    ],
)
def test_todays_payloads_round_trip(payload: object) -> None:
    encoded = payload.encode()  # type: ignore[attr-defined]
    assert encoded["v"] == 1
    assert decode_payload(payload.KIND, json.loads(json.dumps(encoded))) == payload  # type: ignore[attr-defined]


def test_the_swap_is_stored_under_its_wire_name() -> None:
    assert TellHosts(session=2, what="swapped", swapped_from="U2").encode() == {
        "v": 1,
        "session": 2,
        "what": "swapped",
        "from": "U2",
    }


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("sync_card", {"v": 2, "issue_id": 1}, "version 2"),
        ("sync_card", {}, "missing 'issue_id'"),
        ("sync_card", {"issue_id": "1"}, "'issue_id' is str"),
        ("sync_card", {"issue_id": True}, "'issue_id' is bool"),
        ("sync_card", ["issue_id", 1], "not an object"),
        ("post", {"channel": "C1", "blocks": "not a list"}, "'blocks' is str"),
        ("send_fax", {"to": "+1"}, "unknown outbox kind"),
    ],
)
def test_an_unreadable_payload_says_why(kind: str, data: object, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_payload(kind, data)
