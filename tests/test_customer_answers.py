"""The customer-answer service on both databases: one history event and one thread note per
delivery, in one transaction; and an e-mail answering a message we sent joins its issue once the
outbound Message-ID is recorded where the mailbox intake looks for its threads."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from bot.domain.intake import Customer, CustomerAnswer, IntakeRequest
from bot.domain.outbox import ThreadNote
from bot.services.customer_answers import CUSTOMER_ANSWER, record_customer_answer
from bot.services.email_intake import message_key, take_email
from bot.services.intake import ingest_issue
from db.models import issue_events, outbox_items
from db.queries.deliveries import claim_delivery
from db.session import Database
from integrations.email import ParsedEmail, parse_email


async def intercom_issue(database: Database, config: Any, external_id: str = "215468730184561") -> int:
    request = IntakeRequest(
        external_id=external_id,
        source="intercom",
        subject="Invoice shows the wrong VAT",
        body="Hi team",
        customer=Customer(id="c-1", name="Sam Okafor", company="Globex"),
    )
    return (await ingest_issue(database, config, request)).issue_id


def answer(delivery_id: str = "notif_1", conversation_id: str = "215468730184561") -> CustomerAnswer:
    return CustomerAnswer(
        source="intercom",
        conversation_id=conversation_id,
        delivery_id=delivery_id,
        text="Any news?",
        author_name="Sam Okafor",
        at=datetime(2026, 11, 23, 10, 20, tzinfo=UTC),
    )


async def notes_and_events(database: Database) -> tuple[list[Any], list[Any]]:
    def read(conn: Any) -> tuple[list[Any], list[Any]]:
        events = conn.execute(select(issue_events).where(issue_events.c.kind == CUSTOMER_ANSWER)).all()
        notes = conn.execute(select(outbox_items).where(outbox_items.c.kind == ThreadNote.KIND.value)).all()
        return list(events), list(notes)

    return await database.transaction(read)


async def test_an_answer_is_recorded_once_with_its_thread_note(database: Database, make_config: Any) -> None:
    config = make_config()
    issue_id = await intercom_issue(database, config)

    first = await record_customer_answer(database, answer())
    assert (first.kind, first.issue_id, first.at) == (
        "recorded",
        issue_id,
        datetime(2026, 11, 23, 10, 20, tzinfo=UTC),
    )
    repeat = await record_customer_answer(database, answer())
    assert (repeat.kind, repeat.issue_id, repeat.event_id) == ("duplicate", issue_id, None)

    [event], [note] = await notes_and_events(database)
    assert event.id == first.event_id and event.issue_id == issue_id
    assert event.detail["text"] == "Any news?" and event.detail["company"] == "Globex"
    assert note.payload["event_id"] == first.event_id


async def test_an_answer_on_an_unknown_conversation_records_nothing(
    database: Database, make_config: Any
) -> None:
    await intercom_issue(database, make_config())
    outcome = await record_customer_answer(database, answer(conversation_id="999"))
    assert (outcome.kind, outcome.issue_id) == ("no_issue", None)
    # Another source's conversation of the same number is not ours either.
    zendesk = answer().model_copy(update={"source": "zendesk"})
    assert (await record_customer_answer(database, zendesk)).kind == "no_issue"
    assert await notes_and_events(database) == ([], [])


async def test_the_reports_own_text_is_not_repeated_as_an_answer(
    database: Database, make_config: Any
) -> None:
    # Zendesk sends ticket.comment_added for a ticket's description (its first comment) as well.
    issue_id = await intercom_issue(database, make_config())
    first_comment = answer().model_copy(update={"text": "Hi   team\n"})
    outcome = await record_customer_answer(database, first_comment)
    assert (outcome.kind, outcome.issue_id) == ("duplicate", issue_id)
    assert await notes_and_events(database) == ([], [])


def reply_to(message_id: str) -> ParsedEmail:
    message = EmailMessage()
    message["From"] = "Dana Smith <dana@globex.example>"
    message["To"] = "support@acme.test"
    message["Subject"] = "Re: About your invoice"
    message["Message-ID"] = "<reply-1@globex.example>"
    message["In-Reply-To"] = f"<{message_id}>"
    message["Date"] = "Mon, 23 Nov 2026 10:30:00 +0000"
    message.set_content("Thanks, that fixed it.")
    parsed = parse_email(message.as_bytes())
    assert isinstance(parsed, ParsedEmail)
    return parsed


async def test_an_email_answering_a_message_we_sent_joins_its_issue(
    database: Database, make_config: Any
) -> None:
    config = make_config(email={"host": "imap.example.test", "user": "support"})
    issue_id = await intercom_issue(database, config)
    ours = "sb-42-0001@acme.test"  # the Message-ID of a reply we sent (without its angle brackets)

    # What the outbound side must write, in the transaction that records the sent e-mail.
    await database.transaction(lambda conn: claim_delivery(conn, message_key(ours), issue_id=issue_id))

    outcome = await take_email(database, config, reply_to(ours))
    assert (outcome.kind, outcome.issue_id) == ("reply", issue_id)


async def test_without_the_outbound_message_id_the_answer_is_a_new_issue(
    database: Database, make_config: Any
) -> None:
    config = make_config(email={"host": "imap.example.test", "user": "support"})
    issue_id = await intercom_issue(database, config)
    outcome = await take_email(database, config, reply_to("sb-42-0002@acme.test"))
    assert outcome.kind == "new_issue" and outcome.issue_id != issue_id
