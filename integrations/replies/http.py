"""The HTTP plumbing the Intercom, Zendesk and webhook channels share: one aiohttp session per channel
with a total timeout, and one mapping of answers and failures onto the reply errors."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from .types import ReplyOutcomeUnknown, ReplyRejected, ReplyUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# An answer bigger than this is not read (a conversation holds at most 500 parts).
MAX_ANSWER_BYTES = 8 * 1024 * 1024


_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,60}")


def safe_code(value: Any) -> str | None:
    """A service's error code (``not_found``, ``RecordInvalid``) when it looks like one: never free text."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from these APIs; the caller's backoff applies
    return max(0.0, min(seconds, 3600.0))


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """The body, or its first MAX_ANSWER_BYTES (then it will not parse, and the answer counts as empty)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


class HttpCaller:
    """Makes one service's calls. ``service`` names it in reasons ("Intercom answered 404 …")."""

    def __init__(self, service: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, raise_for_status=False)
            # aiohttp silently re-sends a PUT (an "idempotent" method) once when the connection drops
            # before the answer. Zendesk's comment PUT is not idempotent: that re-send would post the
            # reply twice. An unknown outcome must reach the caller, who asks find_sent first. There is
            # no public switch; aiohttp's own test client turns it off the same way.
            self._session._retry_connection = False
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        what: str,
        effect: bool,
        error_code: Any = None,
    ) -> tuple[int, Any]:
        """The JSON answer of a 2xx; raises the reply errors otherwise.

        ``effect``: the call changes something there, so losing its answer (a timeout, a dropped
        connection) leaves the outcome unknown; a read that fails that way is merely unavailable.
        ``what`` names the call in reasons and logs (never the text or the token).
        """
        try:
            async with self._client().request(method, url, headers=dict(headers), data=body) as response:
                raw = await _read_bounded(response)
                status = response.status
                answer_headers = response.headers
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached the service.
            raise ReplyUnavailable(f"{self.service} unreachable ({type(exc).__name__})") from exc
        except (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            kind = "timed out" if isinstance(exc, TimeoutError) else "dropped the connection"
            if effect:
                raise ReplyOutcomeUnknown(f"{self.service} {kind} during {what}") from exc
            raise ReplyUnavailable(f"{self.service} {kind} during {what}") from exc
        except aiohttp.ClientError as exc:
            if effect:
                raise ReplyOutcomeUnknown(
                    f"{self.service} failed during {what} ({type(exc).__name__})"
                ) from exc
            raise ReplyUnavailable(f"{self.service} failed during {what} ({type(exc).__name__})") from exc
        except asyncio.CancelledError:
            raise
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        log.debug(f"{self.service} {what}: {status}")
        if 200 <= status < 300:
            return status, answer
        code = safe_code(error_code(answer)) if error_code is not None and answer is not None else None
        detail = f" ({code})" if code else ""
        reason = f"{self.service} answered {status}{detail} to {what}"
        if status == 429 or status >= 500 or status == 408:
            raise ReplyUnavailable(reason, retry_after(answer_headers))
        raise ReplyRejected(reason)
