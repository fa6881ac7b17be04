"""Replies to customers: the send through the report's own channel, and its line in the card's thread.

A send is made once as the customer sees it. Its key (`reply:{id}`) goes with it: as the e-mail's
Message-ID, as the webhook's `webhook-id`, and the helpdesk channels look for the comment they may have
posted before posting again when an earlier attempt's outcome is unknown. A refusal that cannot pass
(a bad address, a closed conversation) and a channel still down after a few attempts
(`customer_send`) mark the reply failed, with the reason and a Retry button in the thread; nothing is
dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.customer_send import NotSent, send_through
from bot.deliveries.policy import thread_line
from bot.domain.outbox import ReplyThreadNote, SendReply
from bot.domain.replies import ReplyChannelName, ReplyState
from bot.services import csat, outbox, replies
from bot.services.cards import CARD
from bot.services.email_intake import message_key
from bot.views.replies import render_reply_note
from db.queries.deliveries import claim_delivery
from db.session import Database
from integrations.replies import (
    Delivered,
    OutboundReply,
    ReplyChannel,
)
from integrations.slack import MessageMark, SlackError, SlackGateway

log = logging.getLogger(__name__)


def reply_mark(reply_id: int) -> MessageMark:
    return MessageMark("supportbridge_reply", (("reply_id", reply_id),))


def reply_key(reply_id: int) -> str:
    return f"reply:{reply_id}"


class ReplyDeliveries:
    def __init__(
        self,
        database: Database,
        slack: SlackGateway,
        channels: Mapping[str, ReplyChannel],
        config: AppConfig | None = None,
    ) -> None:
        self.database = database
        self.slack = slack
        self.channels = channels
        self.config = config

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(SendReply, self.send)
        deliverer.register(ReplyThreadNote, self.note)

    async def _display_name(self, user: str | None) -> str | None:
        """The sender's name as customers may see it (a signature), never a Slack id; None when Slack
        cannot say (the reply then goes unsigned rather than late)."""
        if not user:
            return None
        try:
            info = await self.slack.user_info(user)
        except SlackError:
            return None
        profile = info.get("profile") or {}
        name = profile.get("real_name") or profile.get("display_name") or info.get("real_name")
        return str(name)[:100] if name else None

    async def send(self, payload: SendReply) -> outbox.Effects | None:
        reply_id = payload.reply_id
        item = await self.database.transaction(lambda conn: replies.to_send(conn, reply_id))
        if item is None or item.state != ReplyState.QUEUED:
            return None  # gone, or settled by an earlier attempt
        channel = self.channels.get(item.channel.value)
        if channel is None:
            reason = f"replies {item.channel.value} are not set up in this process any more"
            return lambda conn: replies.record_failed(conn, reply_id, reason)
        outbound = OutboundReply(
            key=reply_key(reply_id),
            text=item.text,
            subject=item.subject if item.subject.lower().startswith("re:") else f"Re: {item.subject}",
            conversation_id=item.conversation_id,
            to_email=item.to_email,
            to_name=item.to_name,
            in_reply_to=item.in_reply_to,
            references=item.references,
            sender_name=await self._display_name(item.sent_by),
            source=item.source,
        )

        async def send() -> Delivered:
            if outbox.earlier_attempt_may_have_succeeded():
                found = await channel.find_sent(outbound)
                if found is not None:
                    log.info("reply already delivered; adopting it", extra={"reply_id": reply_id})
                    return found
            return await channel.send(outbound)

        try:
            delivered = await send_through(channel, send, "reply", reply_id=reply_id)
        except NotSent as exc:
            reason = exc.reason
            return lambda conn: replies.record_failed(conn, reply_id, reason)
        sent = delivered
        log.info(
            "reply sent", extra={"reply_id": reply_id, "channel": channel.name, "issue_id": item.issue_id}
        )

        def record(conn: Connection) -> None:
            replies.record_sent(conn, reply_id, sent.external_id)
            if self.config is not None:
                # A customer told of the fix through their channel is asked how we did (`csat`).
                csat.after_fix_notice(conn, self.config, reply_id)
            if item.channel == ReplyChannelName.EMAIL:
                # The customer's answer (In-Reply-To: this message) joins the report's thread.
                claim_delivery(conn, message_key(sent.external_id), issue_id=item.issue_id)

        return record

    async def note(self, payload: ReplyThreadNote) -> outbox.Effects | None:
        reply_id = payload.reply_id
        target = await self.database.transaction(lambda conn: replies.note_target(conn, reply_id, CARD))
        if target is None:
            return None
        blocks, text = render_reply_note(target.note)
        posted = await thread_line(
            self.slack,
            text,
            blocks,
            mark=reply_mark(reply_id),
            posted=(target.posted_channel, target.posted_ts),
            card=(target.card_channel, target.card_ts),
        )
        if posted is None:
            return None
        return lambda conn: replies.record_note(conn, reply_id, posted.channel, posted.ts)
