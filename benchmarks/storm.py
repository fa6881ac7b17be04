"""Benchmark (not a test): a storm of reports of one outage, with auto-merge on.

    .venv/bin/python -m benchmarks.storm [--reports 300] [--seconds 600] [--backend sqlite|postgresql]

`serve` (one process, deliveries included) with `matching.auto_merge: 0.8` and Slack's real pace (one
message per second per channel, the default), fed `--reports` signed webhooks of one outage — written
in a dozen ways, by different customers — spread evenly over `--seconds`, against the fake Slack in a
process of its own. Then it counts what the channel got: cards, thread lines, edits of the problem's
card and the shortest gap between two of them, and the most messages posted in the channel within any
one second. The figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402
    INTAKE_SECRET,
    SIGNING_SECRET,
    TOKEN,
    fake_slack,
    free_port,
    pg_fresh_database,
    server,
)

# One outage, as customers write it.
SUBJECTS = [
    "Checkout returns 502 Bad Gateway",
    "Checkout page gives a 502 error",
    "502 Bad Gateway when paying",
    "Can't pay: checkout shows 502",
    "Checkout broken - 502 Bad Gateway",
    "Payment page error 502",
    "Getting 502 Bad Gateway on checkout",
    "Checkout fails with a 502",
    "checkout 502 bad gateway again",
    "Error 502 at checkout, cannot complete order",
    "Checkout is down (502)",
    "Checkout: 502 Bad Gateway for all our customers",
]
BODIES = [
    "Paying fails with 502 Bad Gateway.",
    "Every time I try to pay the checkout page shows 502 Bad Gateway.",
    "Our customers cannot complete orders, checkout gives a 502 error.",
    "",
]


def _config(directory: Path, channel: str) -> Path:
    path = directory / "supportbridge.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "channels": {"default": channel},
                "matching": {"auto_merge": 0.8, "batch_seconds": 5},
                # Slack's own pace: one message per second per channel (the default), kept here.
            }
        )
    )
    return path


async def run(reports: int, seconds: float, backend: str) -> dict[str, Any]:
    async with fake_slack() as slack:
        seeded = await slack.setup(channels=["customer-issues"])
        channel = seeded["channels"]["customer-issues"]
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            if backend == "postgresql":
                url = await pg_fresh_database("sb_bench_storm")
                if url is None:
                    raise SystemExit("PostgreSQL is not reachable on 127.0.0.1:5432")
            else:
                url = f"sqlite+aiosqlite:///{directory / 'storm.db'}"
            env = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "INTAKE_SECRET": INTAKE_SECRET,
                "DATABASE_URL": url,
                "LOG_LEVEL": "WARNING",
                "SUPPORTBRIDGE_CONFIG": str(_config(directory, channel)),
            }
            if backend == "postgresql":
                migrate = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "migrate", env={"PYTHONPATH": str(ROOT), **env}
                )
                await migrate.wait()
            port = free_port()
            argv = ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
            webhook = Webhook(INTAKE_SECRET)
            async with contextlib.AsyncExitStack() as stack:
                base = await stack.enter_async_context(server(argv, env, port))
                http = await stack.enter_async_context(aiohttp.ClientSession())
                statuses = []
                started = asyncio.get_running_loop().time()
                for i in range(reports):
                    body = json.dumps(
                        {
                            "external_id": f"storm-{i}",
                            "source": "webform",
                            "subject": SUBJECTS[i % len(SUBJECTS)],
                            "body": BODIES[i % len(BODIES)],
                            "customer": {"id": f"c{i}", "email": f"c{i}@example.test", "company": f"Co {i}"},
                        }
                    )
                    now = datetime.now(UTC)
                    headers = {
                        "webhook-id": f"msg_{i}",
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": webhook.sign(f"msg_{i}", now, body),
                        "Content-Type": "application/json",
                    }
                    async with http.post(f"{base}/intake/webhook", data=body, headers=headers) as response:
                        statuses.append(response.status)
                    due = started + seconds * (i + 1) / reports
                    await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
                # Let the last batch go out (batch_seconds, then Slack's pace).
                settle_started = asyncio.get_running_loop().time()
                last = -1
                while asyncio.get_running_loop().time() - settle_started < 120:
                    await asyncio.sleep(3)
                    async with http.get(f"{slack.root}/_bench/calls") as response:
                        count = len(await response.json())
                    if count == last:
                        break
                    last = count
                async with http.get(f"{slack.root}/_bench/calls") as response:
                    calls = await response.json()
                messages = await slack.messages(channel)
    posts = [c for c in calls if c["method"] == "chat.postMessage" and c["channel"] == channel]
    cards = [c for c in posts if not c["thread_ts"]]
    lines = [c for c in posts if c["thread_ts"]]
    edits = [c for c in calls if c["method"] == "chat.update" and c["channel"] == channel]
    by_card: dict[str, list[float]] = {}
    for edit in edits:
        by_card.setdefault(edit["ts"], []).append(edit["at"])
    gaps = [b - a for times in by_card.values() for a, b in itertools.pairwise(times)]
    times = sorted(c["at"] for c in posts)
    busiest = max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0)
    top = messages[0] if messages else {}
    return {
        "backend": backend,
        "reports": reports,
        "seconds": seconds,
        "accepted": sum(1 for s in statuses if s == 202),
        "cards": len(cards),
        "thread_lines": len(lines),
        "card_edits": len(edits),
        "shortest_edit_gap_s": min(gaps) if gaps else None,
        "most_posts_in_one_second": busiest,
        "first_card_counts": next(
            (m for m in json.dumps(top.get("blocks", [])).split('"') if " reports" in m and "customer" in m),
            "",
        )[:120],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.reports, args.seconds, args.backend))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
