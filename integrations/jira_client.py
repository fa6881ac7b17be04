"""Our interface to Jira. The `jira` package is synchronous: every call runs in a worker thread,
never on the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from jira import JIRA, JIRAError
from requests import RequestException


class JiraUnavailable(Exception):
    """Jira could not be reached or refused us; the message says which, without credentials."""


class JiraGateway:
    def __init__(self, url: str, email: str, api_token: str, *, timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self._email = email
        self._token = api_token
        self._timeout = timeout
        self._client: JIRA | None = None

    def _connect(self) -> JIRA:
        if self._client is None:
            self._client = JIRA(
                server=self.url,
                basic_auth=(self._email, self._token),
                timeout=self._timeout,
                max_retries=1,
                get_server_info=False,
            )
        return self._client

    async def server_info(self) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            return dict(self._connect().server_info())

        try:
            return await asyncio.to_thread(call)
        except JIRAError as exc:
            raise JiraUnavailable(f"Jira answered HTTP {exc.status_code}") from None
        except RequestException as exc:
            raise JiraUnavailable(f"cannot reach Jira: {type(exc).__name__}") from None
