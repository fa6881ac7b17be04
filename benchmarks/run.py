"""Benchmarks (not tests): `make bench`, figures recorded in docs/benchmarks.md.

(a) Acknowledgement latency of the real app vs a bare Bolt AsyncApp that only acks, in the same run:
    rounds of 50 concurrent signed requests of each kind, p50 and p99, and the ratio.
(b) Intake throughput: 50 concurrent signed webhooks into SQLite and into PostgreSQL, then every card
    posted once to the fake Slack.
(c) Matching at scale: similar() and typeahead on 100,000 reports (benchmarks/matching_scale.py); its
    quality is `python -m benchmarks.similarity`.
(d) The weekly digest over 1,000,000 issues on SQLite and on PostgreSQL (benchmarks/digest.py).
(e) Crashes while delivering: `serve` killed at a random point while it posts 2,000 cards, ten times;
    lost and doubled cards (benchmarks/faults.py).

Each server runs as its own process (as in production), so the load generator and the fake Slack do
not share its event loop. Bounded: fixed request counts, loopback only, stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class FakeSlackProcess:
    """Handle on benchmarks/fake_slack_process.py."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.root = url.removesuffix("/api/")
        self.http = http
        self.team_id = "T0000000001"
        self.app_id = "A0000000001"

    async def setup(self, **spec: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.root}/_bench/setup", json=spec) as response:
            return dict(await response.json())

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.root}/_bench/state") as response:
            return dict(await response.json())

    async def messages(self, channel: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.root}/_bench/messages/{channel}") as response:
            return list(await response.json())


@asynccontextmanager
async def fake_slack():  # type: ignore[no-untyped-def]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.fake_slack_process",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        async with aiohttp.ClientSession() as http:
            yield FakeSlackProcess(url, http)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)


TOKEN = "xoxb-test-token"
SIGNING_SECRET = "bench-signing-secret"
INTAKE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WARMUP = 200  # intake requests sent before the clock starts
SERVER_PIDS: dict[str, int] = {}  # base URL -> pid of the server process behind it
PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc), 0.0 where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def delivery_stages(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """Seconds spent per delivery stage so far, from the serve process's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    async with http.get(f"{base}/metrics") as response:
        page = await response.text()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(page):
        if family.name != "supportbridge_delivery_stage_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                totals[sample.labels["stage"]] = sample.value
    return totals


def print_stages(stages: dict[str, float], cards: int, cpu: float) -> None:
    """The per-stage cost table. Stages overlap (deliveries run concurrently), so a share is of the
    summed stage time, not of the clock; the serve process's CPU time is given beside it."""
    total = sum(stages.values()) or 1.0
    print(f"  {'stage':8} {'total s':>8} {'ms/card':>8} {'share':>6}")
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:8} {seconds:8.2f} {1000 * seconds / cards:8.2f} {100 * seconds / total:5.1f}%")
    print(f"  serve process CPU {cpu:.1f} s ({1000 * cpu / cards:.1f} ms/card, intake included)")


@asynccontextmanager
async def server(argv: list[str], env: dict[str, str], port: int):  # type: ignore[no-untyped-def]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status == 200:
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"server {argv} did not start")
        SERVER_PIDS[f"http://127.0.0.1:{port}"] = process.pid
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)


def write_config(directory: Path, channel: str, feedback: str) -> Path:
    path = directory / "supportbridge.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "channels": {"default": channel},
                "slack_intake": {"reaction": "ticket", "monitored_channels": [feedback]},
                # The bot's own throughput: the fake does not rate-limit, so neither does the pacer
                # (real Slack takes about one post a second per channel).
                "deliveries": {"posts_per_second_per_channel": 100_000, "post_burst": 100_000},
            }
        )
    )
    return path


# ----------------------------------------------------------------------------- (a) ack latency


def slack_request(kind: str, slack: FakeSlackProcess, feedback: str, message_ts: str) -> tuple[str, str]:
    """(body, content type) of one Slack request of a kind."""
    if kind == "event: reaction (logs an issue)":
        return json.dumps(
            {
                "type": "event_callback",
                "team_id": slack.team_id,
                "api_app_id": slack.app_id,
                "event_id": f"Ev{uuid.uuid4().hex[:12]}",
                "event_time": int(time.time()),
                "event": {
                    "type": "reaction_added",
                    "user": "U0000000002",
                    "reaction": "ticket",
                    "item": {"type": "message", "channel": feedback, "ts": message_ts},
                    "event_ts": message_ts,
                },
            }
        ), "application/json"
    if kind == "event: unhandled":
        return json.dumps(
            {
                "type": "event_callback",
                "team_id": slack.team_id,
                "api_app_id": slack.app_id,
                "event_id": f"Ev{uuid.uuid4().hex[:12]}",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_mention",
                    "user": "U0000000002",
                    "text": "hi",
                    "channel": feedback,
                    "ts": message_ts,
                    "event_ts": message_ts,
                },
            }
        ), "application/json"
    if kind == "button click":
        payload = {
            "type": "block_actions",
            "team": {"id": slack.team_id},
            "user": {"id": "U0000000002"},
            "api_app_id": slack.app_id,
            "trigger_id": "1.2.3",
            "actions": [
                {"type": "button", "action_id": "issue.open_link", "block_id": "links.1", "action_ts": "1.1"}
            ],
        }
        return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    return urlencode(
        {
            "command": "/support",
            "text": "help",
            "team_id": slack.team_id,
            "user_id": "U0000000002",
            "channel_id": feedback,
            "api_app_id": slack.app_id,
            "trigger_id": "1.2.3",
            "response_url": "https://hooks.slack.com/commands/1",
        }
    ), "application/x-www-form-urlencoded"


# The reaction last: it leaves the real app delivering cards, which would colour the others.
KINDS = ["event: unhandled", "button click", "slash command", "event: reaction (logs an issue)"]


async def ack_round(
    http: aiohttp.ClientSession, base: str, bodies: list[tuple[str, str]], kind: str
) -> list[float]:
    """One round: every body sent at once, each timed from send to the full answer."""
    verifier = SignatureVerifier(SIGNING_SECRET)

    async def one(body: str, ctype: str) -> float:
        ts = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "Content-Type": ctype,
            "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
        }
        started = time.perf_counter()
        async with http.post(f"{base}/slack/events", data=body, headers=headers) as response:
            await response.read()
            # A bare Bolt app answers 404 to an event no listener takes; that is still its ack path.
            if response.status not in (200, 404):
                raise RuntimeError(f"{kind}: HTTP {response.status}")
        return (time.perf_counter() - started) * 1000

    return list(await asyncio.gather(*(one(body, ctype) for body, ctype in bodies)))


async def bench_ack(rounds: int, concurrency: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with fake_slack() as slack:
        seeded = await slack.setup(
            users=["agent"],
            channels=["customer-issues", "customer-feedback"],
            seed_channel="customer-feedback",
            seed_messages=200,
        )
        channel = seeded["channels"]["customer-issues"]
        feedback = seeded["channels"]["customer-feedback"]
        stamps = seeded["seeded"]
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            env = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "LOG_LEVEL": "WARNING",
            }
            real_env = {
                **env,
                "SUPPORTBRIDGE_CONFIG": str(write_config(directory, channel, feedback)),
                "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'ack.db'}",
            }
            bare_port, real_port = free_port(), free_port()
            async with (
                server(["-m", "benchmarks.bare_bolt", "--port", str(bare_port)], env, bare_port) as bare,
                server(
                    ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(real_port)],
                    real_env,
                    real_port,
                ) as real,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as bare_http,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as real_http,
            ):
                if True:
                    for kind in KINDS:
                        base_lat: list[float] = []
                        real_lat: list[float] = []
                        # One warm-up round each, then rounds alternating between the two servers so
                        # that drift on the machine affects both alike.
                        for r in range(rounds + 1):
                            bodies = [
                                slack_request(
                                    kind, slack, feedback, stamps[(r * concurrency + i) % len(stamps)]
                                )
                                for i in range(concurrency)
                            ]
                            bare_round = await ack_round(bare_http, bare, bodies, kind)
                            real_round = await ack_round(real_http, real, bodies, kind)
                            if r:
                                base_lat += bare_round
                                real_lat += real_round
                        results[kind] = {
                            "bare_p50": statistics.median(base_lat),
                            "bare_p99": percentile(base_lat, 99),
                            "real_p50": statistics.median(real_lat),
                            "real_p99": percentile(real_lat, 99),
                        }
                        results[kind]["ratio_p99"] = results[kind]["real_p99"] / results[kind]["bare_p99"]
    return results


# ----------------------------------------------------------------------------- (b) intake throughput


async def pg_fresh_database(name: str) -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, Exception):
        return None
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


@asynccontextmanager
async def worker_process(env: dict[str, str]):  # type: ignore[no-untyped-def]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "worker",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)


async def bench_intake(database_url: str, total: int, concurrency: int, processes: int = 1) -> dict[str, Any]:
    async with fake_slack() as slack:
        seeded = await slack.setup(channels=["customer-issues", "customer-feedback"])
        channel = seeded["channels"]["customer-issues"]
        feedback = seeded["channels"]["customer-feedback"]
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            url = database_url.replace("{tmp}", str(directory))
            env = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "INTAKE_SECRET": INTAKE_SECRET,
                "DATABASE_URL": url,
                "LOG_LEVEL": "WARNING",
                "SUPPORTBRIDGE_CONFIG": str(write_config(directory, channel, feedback)),
            }
            if url.startswith("postgresql"):
                migrate = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "migrate",
                    env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
                    stdout=asyncio.subprocess.DEVNULL,
                )
                await migrate.wait()
            port = free_port()
            webhook = Webhook(INTAKE_SECRET)
            bodies = []
            for i in range(total):
                body = json.dumps(
                    {
                        "external_id": f"bench-{i}",
                        "source": "bench",
                        "subject": f"Problem {i % 37}",
                        "body": "Something is broken " * 20,
                        "customer": {"id": f"c{i % 300}", "email": f"c{i % 300}@example.test"},
                        "tags": ["bug"],
                        "product_area": "billing",
                    }
                )
                bodies.append(body)
            async with contextlib.AsyncExitStack() as stack:
                bases = []
                for _ in range(processes):
                    port = free_port()
                    argv = ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
                    if processes > 1:
                        argv.append("--no-deliveries")  # a separate worker delivers, as in production
                    bases.append(await stack.enter_async_context(server(argv, env, port)))
                if processes > 1:
                    await stack.enter_async_context(worker_process(env))
                statuses: list[int] = []
                # Signed up front (well inside the 5-minute window) so that the load generator spends
                # its share of the two cores sending, not signing.
                signed_at = datetime.now(UTC)
                requests = []
                for i, body in enumerate(bodies):
                    msg_id = f"msg_{i}"
                    headers = {
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(int(signed_at.timestamp())),
                        "webhook-signature": webhook.sign(msg_id, signed_at, body),
                        "Content-Type": "application/json",
                    }
                    requests.append((i, body.encode(), headers))
                queue = requests
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

                    async def worker() -> None:
                        while queue:
                            i, body, headers = queue.pop()
                            # Round-robin over the serve processes, as a load balancer would.
                            base = bases[i % len(bases)]
                            async with http.post(f"{base}/intake/webhook", data=body, headers=headers) as r:
                                await r.read()
                                statuses.append(r.status)

                    # Warm-up, not timed: the first requests open the pool's connections and prepare
                    # their statements. The clock runs over the rest.
                    measured = queue[: len(queue) - WARMUP]
                    del queue[: len(queue) - WARMUP]
                    await asyncio.gather(*(worker() for _ in range(concurrency)))
                    queue.extend(measured)
                    # The serve process delivers (one process): its stage timers and CPU, from here.
                    stages_before = await delivery_stages(http, bases[0]) if processes == 1 else {}
                    cpu_before = cpu_seconds(SERVER_PIDS[bases[0]])
                    posted_before = (await slack.state())["messages"][channel]
                    started = time.perf_counter()
                    await asyncio.gather(*(worker() for _ in range(concurrency)))
                    accepted_seconds = time.perf_counter() - started
                    rate = len(measured) / accepted_seconds
                    print(f"  ({rate:.0f}/s accepted; waiting for the cards)", flush=True)
                    deadline = time.perf_counter() + 300
                    while (await slack.state())["messages"][channel] < total:
                        if time.perf_counter() > deadline:
                            raise RuntimeError("cards did not all arrive within 300 s")
                        await asyncio.sleep(0.1)
                    delivered_seconds = time.perf_counter() - started
                    cpu = cpu_seconds(SERVER_PIDS[bases[0]]) - cpu_before
                    stages = {}
                    if processes == 1:
                        after = await delivery_stages(http, bases[0])
                        stages = {k: v - stages_before.get(k, 0.0) for k, v in after.items()}
                    await asyncio.sleep(1.0)  # a duplicate post would show up now
                state = await slack.state()
    if statuses.count(202) != total:
        counts = {status: statuses.count(status) for status in sorted(set(statuses))}
        raise RuntimeError(f"expected {total} answers 202, got {counts}")
    posted, distinct = state["messages"][channel], state["distinct_cards"][channel]
    if posted != total or distinct != total:
        raise RuntimeError(f"expected {total} distinct cards, got {posted} ({distinct} distinct)")
    if state["violations"]:
        raise RuntimeError(f"contract violations: {state['violations'][:3]}")
    return {
        "accepted_per_s": rate,
        "cards_per_s": total / delivered_seconds,
        "accepted_seconds": accepted_seconds,
        "delivered_seconds": delivered_seconds,
        "cards_measured": total - posted_before,
        "cpu_seconds": cpu,
        "stages": stages,
    }


def print_ack(results: dict[str, Any]) -> None:
    print("\n(a) acknowledgement latency, ms (50 concurrent signed requests per round)")
    print(f"{'request':34} {'bare p50':>9} {'bare p99':>9} {'real p50':>9} {'real p99':>9} {'p99 ratio':>10}")
    for kind, r in results.items():
        print(
            f"{kind:34} {r['bare_p50']:9.1f} {r['bare_p99']:9.1f} {r['real_p50']:9.1f} {r['real_p99']:9.1f}"
            f" {r['ratio_p99']:9.2f}x"
        )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--intakes", type=int, default=2000)
    parser.add_argument("--only", choices=["ack", "intake", "similarity", "digest", "faults"])
    parser.add_argument("--fault-rounds", type=int, default=10, help="faults: kill-and-restart rounds")
    parser.add_argument("--fault-cards", type=int, default=2000, help="faults: cards delivered per round")
    parser.add_argument("--seed", type=int, default=14, help="faults: where the kills fall")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql"], help="intake, digest: one backend only"
    )
    parser.add_argument("--digest-issues", type=int, default=1_000_000)
    parser.add_argument("--digest-runs", type=int, default=5, help="digest: timed runs after a warm-up")
    parser.add_argument(
        "--pg-serve-processes",
        type=int,
        default=1,
        help="PostgreSQL intake: serve processes (with a separate worker when more than one)",
    )
    args = parser.parse_args(argv)
    if args.only in (None, "ack"):
        print_ack(await bench_ack(args.rounds, args.concurrency))
    if args.only in (None, "intake"):
        print(f"\n(b) intake throughput: {args.intakes} signed webhooks, {args.concurrency} concurrent")
        # One process by default on both; --pg-serve-processes N measures PostgreSQL as it is deployed
        # to scale (N `serve` processes behind a balancer, one `worker` sending the cards).
        targets: list[tuple[str, str | None, float, int]] = [
            ("SQLite", "sqlite+aiosqlite:///{tmp}/bench.db", 300.0, 1),
            ("PostgreSQL", await pg_fresh_database("supportbridge_bench"), 500.0, args.pg_serve_processes),
        ]
        for name, url, target, processes in targets:
            if args.backend and name.lower() != args.backend:
                continue
            if url is None:
                print(f"{name:11} skipped: no PostgreSQL at {PG_ADMIN}")
                continue
            r = await bench_intake(url, args.intakes, args.concurrency, processes)
            verdict = "meets" if r["accepted_per_s"] >= target else "BELOW"
            setup = "1 process" if processes == 1 else f"{processes} serve + 1 worker"
            print(
                f"{name:11} ({setup}) accepted {r['accepted_per_s']:5.0f}/s "
                f"({verdict} target {target:.0f}/s); "
                f"all {args.intakes} cards posted once after {r['delivered_seconds']:.1f}s "
                f"({r['cards_per_s']:.0f}/s end to end)"
            )
            if r["stages"]:
                print_stages(r["stages"], r["cards_measured"], r["cpu_seconds"])
    if args.only in (None, "similarity"):
        from benchmarks import matching_scale

        print("\n(c) matching at scale")
        backends = (args.backend,) if args.backend else ("sqlite", "postgresql")
        for backend in backends:
            matching_scale.print_figures(await matching_scale.run_async(backend=backend))
    if args.only in (None, "digest"):
        from benchmarks import digest

        print(f"\n(d) weekly digest over {args.digest_issues:,} issues")
        backends = (args.backend,) if args.backend else ("sqlite", "postgresql")
        results = await digest.run(backends, args.digest_issues, args.digest_runs)
        digest.print_figures(results, args.digest_issues)
    if args.only in (None, "faults"):
        from benchmarks import faults

        print(f"\n(e) kill -9 while delivering: {args.fault_rounds} rounds of {args.fault_cards} cards")
        rounds = await faults.bench_faults(args.fault_rounds, args.fault_cards, args.seed)
        lost, doubled = sum(r["lost"] for r in rounds), sum(r["doubled"] for r in rounds)
        print(f"all rounds: lost {lost}, doubled {doubled} (target 0 and 0)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
