"""(e) Crashes while delivering: `kill -9` of `supportbridge serve` at a random moment while it posts
cards, then a restart, ten rounds; prints how many cards were lost and how many were posted twice.

Each round: a fresh SQLite database and fake Slack (in its own process, so it outlives the kill);
`serve --no-deliveries` takes N signed intakes (all stored, none posted); then `serve` delivers them and
is killed with SIGKILL after a random share of the cards are in Slack; a new `serve` on the same
database finishes the work. The fake does not rate-limit, so neither does the pacer, and the lease is
short (`deliveries.lease_seconds`), so the restarted process takes the dead one's items over within
seconds. Bounded: fixed counts, loopback only, every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from standardwebhooks.webhooks import Webhook

from benchmarks.run import INTAKE_SECRET, ROOT, SIGNING_SECRET, TOKEN, fake_slack, free_port

LEASE_SECONDS = 2.0


def _config(directory: Path, channel: str) -> Path:
    path = directory / "supportbridge.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "channels": {"default": channel},
                "deliveries": {
                    "posts_per_second_per_channel": 100_000,
                    "post_burst": 100_000,
                    "lease_seconds": LEASE_SECONDS,
                    "base_backoff_seconds": 0.2,
                    "max_backoff_seconds": 2,
                },
            }
        )
    )
    return path


async def _start(argv: list[str], env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *argv,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status == 200:
                    return process
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError(f"serve {argv} did not start")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def _intake(port: int, total: int) -> None:
    webhook = Webhook(INTAKE_SECRET)
    signed_at = datetime.now(UTC)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
        pending = list(range(total))

        async def send() -> None:
            while pending:
                i = pending.pop()
                body = json.dumps(
                    {
                        "external_id": f"fault-{i}",
                        "source": "bench",
                        "subject": f"Fault {i}",
                        "body": "Something is broken",
                        "customer": {"id": f"c{i}"},
                    }
                )
                headers = {
                    "webhook-id": f"msg_{i}",
                    "webhook-timestamp": str(int(signed_at.timestamp())),
                    "webhook-signature": webhook.sign(f"msg_{i}", signed_at, body),
                    "Content-Type": "application/json",
                }
                async with http.post(
                    f"http://127.0.0.1:{port}/intake/webhook", data=body, headers=headers
                ) as r:
                    if r.status != 202:
                        raise RuntimeError(f"intake answered {r.status}")

        await asyncio.gather(*(send() for _ in range(50)))


def _card_numbers(messages: list[dict[str, Any]]) -> list[str]:
    return [m["blocks"][0]["text"]["text"].split(" ")[0] for m in messages if m.get("blocks")]


async def one_round(total: int, rng: random.Random) -> dict[str, Any]:
    async with fake_slack() as slack:
        seeded = await slack.setup(channels=["customer-issues"])
        channel = seeded["channels"]["customer-issues"]
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            env = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "INTAKE_SECRET": INTAKE_SECRET,
                "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'faults.db'}",
                "LOG_LEVEL": "WARNING",
                "SUPPORTBRIDGE_CONFIG": str(_config(directory, channel)),
            }
            port = free_port()
            taking = await _start(["serve", "--no-deliveries"], env, port)
            try:
                await _intake(port, total)
            finally:
                await _stop(taking)

            kill_after = rng.randint(total // 20, total * 9 // 10)  # cards in Slack when the kill comes
            sending = await _start(["serve"], env, port)
            deadline = time.monotonic() + 120
            while (await slack.state())["messages"][channel] < kill_after:
                if time.monotonic() > deadline or sending.returncode is not None:
                    raise RuntimeError("the first serve stopped delivering")
                await asyncio.sleep(0.005)
            sending.send_signal(signal.SIGKILL)
            await sending.wait()
            at_kill = (await slack.state())["messages"][channel]

            restarted = await _start(["serve"], env, port)
            try:
                deadline = time.monotonic() + 180
                while len(set(_card_numbers(await slack.messages(channel)))) < total:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(LEASE_SECONDS * 2)  # a late duplicate would show up now
                numbers = _card_numbers(await slack.messages(channel))
            finally:
                await _stop(restarted)
    distinct = set(numbers)
    return {
        "killed_at": at_kill,
        "lost": total - len(distinct),
        "doubled": len(numbers) - len(distinct),
    }


async def bench_faults(rounds: int, total: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    results = []
    for n in range(1, rounds + 1):
        result = await one_round(total, rng)
        results.append(result)
        print(
            f"  round {n:2}: killed with {result['killed_at']:5} of {total} cards in Slack → "
            f"lost {result['lost']}, doubled {result['doubled']}",
            flush=True,
        )
    return results
