"""What the outbox carries: one kind per effect on the outside world, one typed payload per kind.

Outbox rows outlive deploys just as button ids do: a row written by today's code may be delivered by
tomorrow's. So the kinds are a wire contract (never rename a value), and each payload is written with a
version (`{"v": 1, …}`) and read back through `decode_payload`, which also accepts the rows written
before versions existed (no `"v"`: version 1). A field added later must have a default, so older rows
still decode; a change that cannot be read that way gets a new version and its own decoder.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Union

PAYLOAD_VERSION = 1


class OutboxKind(StrEnum):
    """Every kind of outbox work; the value is stored in `outbox_items.kind`."""

    SYNC_CARD = "sync_card"  # post or update an issue's card from stored state
    SLACK_MESSAGE_INTAKE = "slack_message_intake"  # fetch a reacted-to Slack message and log it
    EPHEMERAL = "ephemeral"  # a short private note to one person
    THREAD_NOTE = "thread_note"  # a note in an issue card's thread, from an issue event
    CUSTOMER_LIST = "customer_list"  # post or re-render a resolved problem's customers to tell
    RATIONALE_REQUEST = "rationale_request"  # ask someone to explain a won't-do resolution
    JIRA_ESCALATE = "jira_escalate"  # create (or find) a problem's Jira issue and link it to Slack
    JIRA_LINK = "jira_link"  # link an existing Jira issue to Slack and read its state
    JIRA_NEW_CUSTOMERS = "jira_new_customers"  # one comment naming customers merged in since the last
    HOME = "home"  # re-render one person's App Home
    POST = "post"  # an announcement, a direct message or a thread reply (see `Post`)
    SHADOW_TELL_HOSTS = "shadow_tell_hosts"  # DM a session's hosts (user groups resolved at send time)
    DIGEST_CHART = "digest_chart"  # upload the digest's trend chart into its thread
    AUTO_MERGE_NOTE = "auto_merge_note"  # "+1 from …" lines for reports merged at intake, batched
    JIRA_RATIONALE = "jira_rationale"  # a won't-do rationale written in Slack, as a Jira comment
    SEND_REPLY = "send_reply"  # a reply to a customer through the report's own channel, once
    REPLY_NOTE = "reply_note"  # the reply's line in its card's thread, kept up to date with its state
    SHADOW_LIST = "shadow_list"  # re-render a `/shadow` list in place after a click on it
    SHADOW_DM_CONTROLS = "shadow_dm_controls"  # a clicked DM's session controls, as they apply now
    CSAT_SURVEY = "csat_survey"  # "How did we do?" to one customer through their channel, once
    CSAT_NOTE = "csat_note"  # a low satisfaction score in the card's thread, updated with its comment


class PostRenderer(StrEnum):
    """Posts rendered when they are sent, from the state at that moment; stored in `Post.render`."""

    DIGEST = "digest"
    THRESHOLD_ALERT = "threshold-alert"
    SPIKE_ALERT = "spike-alert"  # args: the spike as found when it was raised
    SHADOW_WEEK = "shadow.week"  # the weekly open-sessions post
    SHADOW_FEEDBACK = "shadow.feedback"  # a feedback answer in the programme's channel
    # Direct messages and swap posts about one session, from its snapshot in `args["session"]`.
    SHADOW_BOOKED = "shadow.booked"
    SHADOW_WAITLISTED = "shadow.waitlisted"
    SHADOW_PROMOTED = "shadow.promoted"
    SHADOW_SWAP = "shadow.swap"
    SHADOW_SWAP_WITHDRAWN = "shadow.swap_withdrawn"
    SHADOW_SEAT_TAKEN = "shadow.seat_taken"
    SHADOW_SESSION_CANCELLED = "shadow.session_cancelled"
    SHADOW_REMINDER = "shadow.reminder"
    SHADOW_FEEDBACK_PROMPT = "shadow.feedback_prompt"
    SHADOW_PLAN = "shadow.plan"  # a first-week plan, from its snapshot in `args["plan"]`
    SHADOW_NUDGE = "shadow.nudge"  # the monthly fairness nudge, with the open sessions it lists
    # An earlier DM about a session, re-rendered from the state now (args: session id, user, prompt).
    SHADOW_DM_STATE = "shadow.dm_state"
    CLAIM_RELEASED = "claim-released"  # args: issue, actor (who released someone else's claim)
    SEVERITY_POINTER = "severity-pointer"  # args: issue, actor, severity (raised into another route)
    # A won't-do rationale request once the rationale is written (args: problem): no button any more.
    RATIONALE_WRITTEN = "rationale.written"
    RELEASE_HEADS_UP = "release.heads_up"
    RELEASE_DAY = "release.day"
    RELEASE_WATCH = "release.watch"


class PayloadError(ValueError):
    """A stored payload that this code cannot read (malformed, or written by a newer version)."""


@dataclass(frozen=True)
class Payload:
    """Base of every payload. A field whose stored name differs from its Python name says so in its
    metadata (`wire`)."""

    KIND: ClassVar[OutboxKind]

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": PAYLOAD_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or (field.default is not dataclasses.MISSING and value == field.default):
                continue  # absent and default read back the same; keep rows small
            data[field.metadata.get("wire", field.name)] = value
        return data


def _matches(value: object, hint: object) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:
        return isinstance(value, origin)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _decode(cls: type[Payload], data: dict[str, Any]) -> Payload:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        wire = field.metadata.get("wire", field.name)
        if wire not in data or data[wire] is None:
            if field.default is dataclasses.MISSING:
                raise PayloadError(f"{cls.KIND}: missing {wire!r}")
            continue
        value = data[wire]
        if not _matches(value, hints[field.name]):
            raise PayloadError(f"{cls.KIND}: {wire!r} is {type(value).__name__}, not {hints[field.name]}")
        values[field.name] = value
    return cls(**values)


@dataclass(frozen=True)
class SyncCard(Payload):
    KIND = OutboxKind.SYNC_CARD
    issue_id: int


@dataclass(frozen=True)
class SlackMessageIntake(Payload):
    """A reaction asked to log the message at (channel, ts); `user` reacted."""

    KIND = OutboxKind.SLACK_MESSAGE_INTAKE
    channel: str
    ts: str
    user: str
    # The workspace the bot is installed in: an author of another one (Slack Connect) is a customer.
    team: str | None = None


@dataclass(frozen=True)
class Ephemeral(Payload):
    """A private note to `user` in `channel`: the given text, or (note="intake_confirmation") the
    confirmation of a report logged from Slack, rendered when sent so it can link the card."""

    KIND = OutboxKind.EPHEMERAL
    channel: str
    user: str
    text: str = ""
    note: str | None = None
    issue_id: int | None = None
    created: bool = False

    INTAKE_CONFIRMATION: ClassVar[str] = "intake_confirmation"


@dataclass(frozen=True)
class ThreadNote(Payload):
    KIND = OutboxKind.THREAD_NOTE
    event_id: int


@dataclass(frozen=True)
class AutoMergeNote(Payload):
    """The reports merged into a problem at intake since its last such note, in its card's thread."""

    KIND = OutboxKind.AUTO_MERGE_NOTE
    problem_id: int
    # Re-render the note already posted for this batch (named by its first event), in place: a report
    # unmerged since shows as unmerged, without its Unmerge button.
    batch: int | None = None


@dataclass(frozen=True)
class SendReply(Payload):
    KIND = OutboxKind.SEND_REPLY
    reply_id: int


@dataclass(frozen=True)
class ReplyThreadNote(Payload):
    KIND = OutboxKind.REPLY_NOTE
    reply_id: int


@dataclass(frozen=True)
class SendSurvey(Payload):
    KIND = OutboxKind.CSAT_SURVEY
    survey_id: int


@dataclass(frozen=True)
class SurveyNote(Payload):
    KIND = OutboxKind.CSAT_NOTE
    survey_id: int


@dataclass(frozen=True)
class CustomerList(Payload):
    KIND = OutboxKind.CUSTOMER_LIST
    problem_id: int


@dataclass(frozen=True)
class RationaleRequest(Payload):
    """Ask for a won't-do rationale in the problem's thread (`to="thread"`) or by DM to `user`."""

    KIND = OutboxKind.RATIONALE_REQUEST
    problem_id: int
    to: str = "thread"
    user: str | None = None
    key: str | None = None
    resolution: str | None = None


@dataclass(frozen=True)
class JiraEscalate(Payload):
    KIND = OutboxKind.JIRA_ESCALATE
    escalation_id: int


@dataclass(frozen=True)
class JiraRationale(Payload):
    KIND = OutboxKind.JIRA_RATIONALE
    problem_id: int


@dataclass(frozen=True)
class JiraLink(Payload):
    KIND = OutboxKind.JIRA_LINK
    escalation_id: int


@dataclass(frozen=True)
class JiraNewCustomers(Payload):
    KIND = OutboxKind.JIRA_NEW_CUSTOMERS
    problem_id: int


@dataclass(frozen=True)
class RefreshHome(Payload):
    KIND = OutboxKind.HOME
    user: str


@dataclass(frozen=True)
class Post(Payload):
    """A post that is not an issue card. With a `key` it is posted once and remembered, so `edit=True`
    re-renders it in place and other posts can reply in its `thread` (another post's key). Content is
    given (`text`, `blocks`) or rendered when sent by the renderer `render` with `args`."""

    KIND = OutboxKind.POST
    channel: str
    key: str | None = None
    text: str | None = None
    blocks: list[Any] | None = None
    render: str | None = None
    args: dict[str, Any] | None = None
    thread: str | None = None
    edit: bool = False


@dataclass(frozen=True)
class TellHosts(Payload):
    """A note to a session's hosts: `what` happened ("joined", "left", "swapped", "reminder")."""

    KIND = OutboxKind.SHADOW_TELL_HOSTS
    session: int
    what: str
    user: str | None = None
    lead_minutes: int | None = None
    swapped_from: str | None = dataclasses.field(default=None, metadata={"wire": "from"})


@dataclass(frozen=True)
class ShadowListRefresh(Payload):
    """The `/shadow` list `user` clicked on, shown again as it is now (through the click's
    `response_url`, the one way to edit an ephemeral message), with `notice` (what the click did) on
    top."""

    KIND = OutboxKind.SHADOW_LIST
    response_url: str
    user: str
    notice: str = ""


@dataclass(frozen=True)
class ShadowDmControls(Payload):
    """A direct message someone clicked a session control on (a first-week plan, a nudge): its blocks
    as Slack sent them with the click, to update in place with each session's controls as they apply
    to `user` now."""

    KIND = OutboxKind.SHADOW_DM_CONTROLS
    channel: str
    ts: str
    user: str
    blocks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    text: str = ""


@dataclass(frozen=True)
class DigestChart(Payload):
    """The trend chart for the digest posted under `key`, for the window [start, end) (ISO-8601)."""

    KIND = OutboxKind.DIGEST_CHART
    key: str
    start: str
    end: str


PAYLOADS: dict[OutboxKind, type[Payload]] = {
    cls.KIND: cls
    for cls in (
        SyncCard,
        SlackMessageIntake,
        Ephemeral,
        ThreadNote,
        CustomerList,
        AutoMergeNote,
        SendReply,
        ReplyThreadNote,
        SendSurvey,
        SurveyNote,
        RationaleRequest,
        JiraEscalate,
        JiraLink,
        JiraNewCustomers,
        JiraRationale,
        RefreshHome,
        Post,
        TellHosts,
        ShadowListRefresh,
        ShadowDmControls,
        DigestChart,
    )
}


def decode_payload(kind: str, data: object) -> Payload:
    """The typed payload of a stored row; `PayloadError` says why it cannot be read."""
    try:
        cls = PAYLOADS[OutboxKind(kind)]
    except ValueError:
        raise PayloadError(f"unknown outbox kind {kind!r}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{kind}: payload is {type(data).__name__}, not an object")
    version = data.get("v", 1)
    if version != PAYLOAD_VERSION:
        raise PayloadError(f"{kind}: payload version {version!r} is not one this code reads")
    return _decode(cls, data)
