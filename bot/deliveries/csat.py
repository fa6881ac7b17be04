"""Satisfaction surveys: the question sent through the report's channel, and a low score's line in the
card's thread.

The link's secret is made just before each send attempt and only its hash is written (in its own
transaction, before the call), so a crash after the send leaves the hash of what the customer got and
the links work. A retry after an unknown outcome sends again with a new secret (see `send`).
Intercom and Zendesk have ratings of their own, but only through their admin UIs: the links go to them
as a message like any other channel's.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from bot.config import AppConfig
from bot.deliveries.customer_send import NotSent, send_through
from bot.deliveries.policy import thread_line
from bot.domain.outbox import SendSurvey, SurveyNote
from bot.services import csat, outbox
from bot.services.cards import CARD
from bot.views.csat import render_low_score_note, render_survey_text, survey_links
from db.session import Database
from integrations.replies import OutboundReply, ReplyChannel
from integrations.slack import MessageMark, SlackGateway

log = logging.getLogger(__name__)

NO_PUBLIC_URL = "PUBLIC_URL is not set, so a survey has no link to answer at"


def survey_key(survey_id: int) -> str:
    return f"csat:{survey_id}"


def note_mark(survey_id: int) -> MessageMark:
    return MessageMark("supportbridge_csat", (("survey_id", survey_id),))


class SurveyDeliveries:
    def __init__(
        self,
        database: Database,
        config: AppConfig,
        slack: SlackGateway,
        channels: Mapping[str, ReplyChannel],
        public_url: str | None,
    ) -> None:
        self.database = database
        self.config = config
        self.slack = slack
        self.channels = channels
        self.public_url = public_url
        self._said_no_url = False

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(SendSurvey, self.send)
        deliverer.register(SurveyNote, self.note)

    async def send(self, payload: SendSurvey) -> outbox.Effects | None:
        survey_id = payload.survey_id
        item = await self.database.transaction(lambda conn: csat.to_send(conn, survey_id))
        if item is None or item.state != "scheduled":
            return None  # gone, or settled by an earlier attempt
        if self.public_url is None:
            if not self._said_no_url:
                self._said_no_url = True
                log.warning(
                    "satisfaction surveys are not sent: %s (set it to the bot's address)", NO_PUBLIC_URL
                )
            return lambda conn: csat.record_failed(conn, survey_id, NO_PUBLIC_URL)
        channel = self.channels.get(item.channel.value)
        if channel is None:
            reason = f"replies {item.channel.value} are not set up in this process any more"
            return lambda conn: csat.record_failed(conn, survey_id, reason)
        subject = item.subject if item.subject.lower().startswith("re:") else f"Re: {item.subject}"

        def outbound(text: str) -> OutboundReply:
            return OutboundReply(
                key=survey_key(survey_id),
                text=text,
                subject=subject,
                conversation_id=item.conversation_id,
                to_email=item.to_email,
                to_name=item.to_name,
                in_reply_to=item.in_reply_to,
                references=item.references,
                source=item.source,
            )

        # A retry after an unknown outcome cannot look for the earlier message: the channels find a send
        # by its text, and the earlier secret is known only by its hash. So it sends again with a new
        # secret: at worst the customer gets the question twice and the first links do not work.
        token = secrets.token_urlsafe(32)
        armed = await self.database.transaction(lambda conn: csat.arm(conn, self.config, survey_id, token))
        if not armed:
            return None
        text = render_survey_text(
            self.config.csat.question, item.subject, item.to_name, survey_links(self.public_url, token)
        )
        try:
            delivered = await send_through(
                channel, lambda: channel.send(outbound(text)), "survey", survey_id=survey_id
            )
        except NotSent as exc:
            reason = exc.reason
            return lambda conn: csat.record_failed(conn, survey_id, reason)
        sent = delivered
        log.info("survey sent", extra={"survey_id": survey_id, "channel": channel.name})
        return lambda conn: csat.record_sent(conn, survey_id, sent.external_id)

    async def note(self, payload: SurveyNote) -> outbox.Effects | None:
        survey_id = payload.survey_id
        target = await self.database.transaction(lambda conn: csat.note_target(conn, survey_id, CARD))
        if target is None:
            return None
        blocks, text = render_low_score_note(target.customer, target.score, target.comment)
        posted = await thread_line(
            self.slack,
            text,
            blocks,
            mark=note_mark(survey_id),
            posted=(target.posted_channel, target.posted_ts),
            card=(target.card_channel, target.card_ts),
        )
        if posted is None:
            return None
        return lambda conn: csat.record_note(conn, survey_id, posted.channel, posted.ts)
