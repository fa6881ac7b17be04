"""`supportbridge serve` in sandbox mode: the fakes, the bot and the page in one process.

`web.run_app` cannot be used here: the bot's settings need the fakes' addresses, and the fakes must
run on the same event loop as the bot, so the loop is ours and the app is run with an AppRunner.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from bot.mode import Mode, describe
from bot.settings import Settings
from sandbox.stack import SANDBOX_DATABASE_URL, SANDBOX_HOST, Sandbox, is_loopback, sandbox_config

log = logging.getLogger("supportbridge")


def start_afresh() -> None:
    """The fake workspace lives in memory, so a database kept from an earlier run would point at cards
    that no longer exist (every later edit of them would fail): each sandbox starts from an empty one."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(SANDBOX_DATABASE_URL.removeprefix("sqlite+aiosqlite:///") + suffix).unlink(missing_ok=True)


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{shown}:{port}"


async def serve_sandbox(
    base: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    database_url: str = SANDBOX_DATABASE_URL,
    stop: asyncio.Event | None = None,
    unsafe_public: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set). Off loopback only with `unsafe_public`: the page
    signs requests as Slack and Jira would, for anyone who can reach it."""
    wanted = host or (base.host if "host" in base.model_fields_set else SANDBOX_HOST)
    if not is_loopback(wanted) and not unsafe_public:
        raise PublicSandboxRefused(wanted)
    if database_url == SANDBOX_DATABASE_URL:
        start_afresh()
    config = sandbox_config(base)
    sandbox = await Sandbox.start(base, config, database_url=database_url)
    listen_host = host or sandbox.settings.host
    listen_port = port or sandbox.settings.port
    runner = web.AppRunner(sandbox.web_app(), handle_signals=False, access_log=None, shutdown_timeout=2)
    try:
        await runner.setup()
        site = web.TCPSite(runner, listen_host, listen_port)
        await site.start()
        url = page_url(listen_host, listen_port)
        sandbox.listening_on(url, public_host=None if is_loopback(listen_host) else listen_host)
        log.info(
            "serving",
            extra={
                "mode": Mode.SANDBOX.value,
                "host": listen_host,
                "port": listen_port,
                "database": "sqlite",
            },
        )
        if not is_loopback(listen_host):
            log.warning(
                "the sandbox page is reachable from other machines, and it signs requests for them",
                extra={"host": listen_host},
            )
        print(describe(Mode.SANDBOX, url=url), file=sys.stderr, flush=True)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # no signals here (Windows, or a test's thread)
                break
        await stop.wait()
    finally:
        await runner.cleanup()
        await sandbox.close()


class PublicSandboxRefused(Exception):
    """Asked to serve the sandbox off loopback without `--unsafe-public-sandbox`."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to serve the sandbox on {host}: it signs Slack and Jira requests for anyone who "
            "reaches it. Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to serve Slack, or pass "
            "--unsafe-public-sandbox if every machine that can reach it is yours."
        )


def run_sandbox(base: Settings, *, host: str | None, port: int | None, unsafe_public: bool = False) -> int:
    try:
        asyncio.run(serve_sandbox(base, host=host, port=port, unsafe_public=unsafe_public))
    except PublicSandboxRefused as exc:
        print(f"supportbridge serve: {exc}", file=sys.stderr)
        return 2
    return 0
