"""The base of every refusal the domain can give: handlers translate a `DomainError` into a short
reply to the person who asked, in one place (`handlers.common`); anything else is a bug and reaches the
one error handler that logs it with its traceback."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be done; `str(error)` is the text shown to the person who asked."""


# What kind of refusal it is, for whoever wants more than the text (a handler choosing between an
# ephemeral note and a modal's field error, a test, the log). A feature's error class is combined with
# one of these: `class SessionFull(ShadowError, Unavailable)`.


class NotFound(DomainError):
    """What the request names does not exist (any more): a session, an offer, a programme."""


class TooLate(DomainError):
    """The moment for it has passed: the session started, is over or was cancelled."""


class AlreadyDone(DomainError):
    """It is done already: booked, on the waitlist, offered, given feedback."""


class NotYours(DomainError):
    """The person asking is not the one who may: a seat someone else booked, a session they missed."""


class Unavailable(DomainError):
    """Someone or something else holds it: the seat was taken, the session is full, a clash."""


class NotConfigured(DomainError):
    """The configuration does not offer it."""
