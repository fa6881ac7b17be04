"""Tests of the private Dovecot test server (tests/imap_server.py), driven with aioimaplib the way the
e-mail intake will use it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aioimaplib
import pytest

from tests.imap_server import DovecotServer, dovecot_available

_reason = dovecot_available()
pytestmark = pytest.mark.skipif(_reason is not None, reason=f"no private Dovecot: {_reason}")

MSG_A = b"From: alice@example.com\r\nTo: support@example.com\r\nSubject: Printer on fire\r\n\r\nHelp!\r\n"
MSG_B = (
    b"From: bob@example.com\r\nTo: support@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    + "Grüße, zweite Zeile\r\n.\r\n".encode()
)


@pytest.fixture
def dovecot(imap: DovecotServer) -> DovecotServer:
    return imap


async def connect(server: DovecotServer, *, timeout: float = 5.0) -> aioimaplib.IMAP4:
    client = aioimaplib.IMAP4(server.host, server.port, timeout=timeout)
    await client.wait_hello_from_server()
    response = await client.login(server.user, server.password)
    assert response.result == "OK", response
    return client


@pytest.fixture
async def client(dovecot: DovecotServer) -> AsyncIterator[aioimaplib.IMAP4]:
    imap = await connect(dovecot)
    response = await imap.select("INBOX")
    assert response.result == "OK"
    try:
        yield imap
    finally:
        if imap.get_state() != "LOGOUT" and dovecot.running:
            with contextlib.suppress(TimeoutError, aioimaplib.AioImapException):
                await asyncio.wait_for(imap.logout(), 2)


async def new_mail_uids(client: aioimaplib.IMAP4, criterion: str = "UNSEEN") -> list[str]:
    # Dovecot does not rescan the Maildir for SEARCH: a message delivered after SELECT is only seen
    # after a command that syncs the mailbox (NOOP, CHECK, SELECT again, IDLE).
    await client.noop()
    return uids(await client.uid_search(criterion))


def uids(search_response: aioimaplib.Response) -> list[str]:
    # uid_search -> lines [b'1 2', b'Search completed (0.001 + 0.000 secs).']
    return search_response.lines[0].decode().split()


def test_start_is_fast_and_writes_a_private_config(dovecot: DovecotServer) -> None:
    assert dovecot.running
    assert dovecot.last_start_seconds is not None and dovecot.last_start_seconds < 3
    conf = dovecot.conf_path.read_text()
    assert "!include" not in conf and f"port = {dovecot.port}" in conf
    assert f"base_dir = {dovecot.run_dir}" in conf and len(str(dovecot.run_dir)) < 40


async def test_login_select_search_fetch_roundtrip(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    dovecot.deliver(MSG_A)
    dovecot.deliver(MSG_B)

    found = await new_mail_uids(client)
    assert len(found) == 2

    response = await client.uid("fetch", found[1], "(BODY.PEEK[])")
    assert response.result == "OK"
    # lines: [b'2 FETCH (UID 2 BODY[] {209}', bytearray(<raw message>), b')', b'Fetch completed (...).']
    assert re.match(rb"\d+ FETCH \(UID \d+ BODY\[\] \{\d+\}$", response.lines[0])
    assert bytes(response.lines[1]) == MSG_B
    assert response.lines[2] == b")"

    # PEEK left it unseen.
    assert len(await new_mail_uids(client)) == 2


async def test_mark_seen_is_visible_to_messages(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    dovecot.deliver(MSG_A)
    dovecot.deliver(MSG_B)
    first, second = await new_mail_uids(client)

    response = await client.uid("store", first, "+FLAGS", r"(\Seen)")
    assert response.result == "OK"
    # lines: [b'1 FETCH (UID 1 FLAGS (\\Seen))', b'Store completed (...).'] (\Recent may also appear)
    assert b"\\Seen" in response.lines[0]

    assert await new_mail_uids(client) == [second]
    assert dovecot.messages() == [(MSG_A, {"\\Seen"}), (MSG_B, set())]


async def test_deliver_seen_and_into_folders(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    dovecot.deliver(MSG_A, seen=True)
    dovecot.deliver(MSG_B, folder="Archive")  # creates the folder
    assert await new_mail_uids(client) == []
    assert dovecot.messages() == [(MSG_A, {"\\Seen"})]
    assert dovecot.messages("Archive") == [(MSG_B, set())]


async def test_move_and_copy_expunge(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    dovecot.create_folder("Processed")
    dovecot.deliver(MSG_A)
    dovecot.deliver(MSG_B)
    first, second = await new_mail_uids(client, "ALL")

    assert client.has_capability("MOVE")
    response = await client.uid("move", first, "Processed")
    assert response.result == "OK", response

    response = await client.uid("copy", second, "Processed")
    assert response.result == "OK", response
    await client.uid("store", second, "+FLAGS", r"(\Deleted)")
    response = await client.expunge()
    assert response.result == "OK"

    assert dovecot.messages() == []
    assert [raw for raw, _ in dovecot.messages("Processed")] == [MSG_A, MSG_B]


async def test_idle_push_on_delivery(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    idle = await client.idle_start(timeout=30)
    started = time.monotonic()
    dovecot.deliver(MSG_A)

    pushed: list[bytes] = []
    while not any(line.endswith(b"EXISTS") for line in pushed):
        assert time.monotonic() - started < 5, f"no EXISTS push, got {pushed}"
        # wait_server_push returns the untagged lines of one read, e.g. [b'1 EXISTS', b'1 RECENT']
        pushed.extend(await client.wait_server_push(timeout=5))
    client.idle_done()
    done = await asyncio.wait_for(idle, 5)
    assert done.result == "OK"

    assert len(await new_mail_uids(client)) == 1


async def test_restart_keeps_port_and_mailbox(dovecot: DovecotServer) -> None:
    dovecot.deliver(MSG_A)
    port = dovecot.port
    dovecot.restart()
    assert dovecot.port == port

    imap = await connect(dovecot)
    await imap.select("INBOX")
    assert len(uids(await imap.uid_search("ALL"))) == 1
    await imap.logout()


async def test_server_going_away_makes_the_client_fail(dovecot: DovecotServer) -> None:
    imap = await connect(dovecot, timeout=1)
    await imap.select("INBOX")
    lost: list[Exception | None] = []
    imap.protocol.conn_lost_cb = lost.append

    dovecot.stop()
    await asyncio.sleep(0.1)
    # The connection_lost callback fires right away, but aioimaplib 2.0.3 does not fail pending or
    # later commands: they time out after the client's `timeout` with asyncio's TimeoutError.
    assert len(lost) == 1  # None (clean EOF) or the socket error
    with pytest.raises(TimeoutError):
        await imap.uid_search("ALL")

    # A new connection while the server is down is refused ...
    down = aioimaplib.IMAP4(dovecot.host, dovecot.port, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        await down.wait_hello_from_server()

    # ... and works again after a restart.
    dovecot.start()
    again = await connect(dovecot)
    assert (await again.select("INBOX")).result == "OK"
    await again.logout()


async def test_idle_session_sees_server_stop(dovecot: DovecotServer, client: aioimaplib.IMAP4) -> None:
    await client.idle_start(timeout=30)
    dovecot.stop()
    # Dovecot says goodbye before closing: wait_server_push returns [b'BYE Server shutting down.'].
    pushed = await client.wait_server_push(timeout=5)
    assert any(line.startswith(b"BYE") for line in pushed), pushed


def test_stop_is_idempotent_and_start_errors_show_the_log(tmp_path: Path) -> None:
    server = DovecotServer(tmp_path / "d")
    server.stop()
    server.start()
    server.stop()
    server.stop()
    assert not server.running

    # Two servers on one port: the second one must fail with Dovecot's own reason.
    first = DovecotServer(tmp_path / "first")
    first.start()
    try:
        second = DovecotServer(tmp_path / "second", port=first.port)
        with pytest.raises(RuntimeError, match="dovecot"):
            second.start()
        assert not second.running
    finally:
        first.stop()
