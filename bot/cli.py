"""`supportbridge serve | worker | migrate | check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

from aiohttp import web
from pydantic import ValidationError

from bot.config import AppConfig, ConfigError, load_config
from bot.logs import configure_logging
from bot.settings import Settings, SettingsError

log = logging.getLogger("supportbridge")


class StartupError(Exception):
    """A setting or the configuration stops the start; the message names it."""


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]).upper() if first["loc"] else "(settings)"
        raise StartupError(f"{key}: {first['msg']}") from None
    try:
        settings.check_startup()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    return settings


def load_all() -> tuple[Settings, AppConfig]:
    settings = load_settings()
    try:
        config = load_config(settings.supportbridge_config)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    from bot.app import check_combination

    try:
        check_combination(settings, config)
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    return settings, config


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_web_app
    from bot.mode import Mode, choose_mode, describe

    # Slack credentials decide the mode; a half-set pair has already stopped the start (load_settings).
    if choose_mode(load_settings()) is Mode.SANDBOX:
        return serve_sandbox(args)
    settings, config = load_all()
    configure_logging(settings.log_level, settings.log_format)
    host = args.host or settings.host
    port = args.port or settings.port
    app = create_web_app(settings, config, run_deliveries=not args.no_deliveries)
    log.info(
        "serving",
        extra={
            "mode": Mode.SLACK.value,
            "host": host,
            "port": port,
            "database": settings.database_url.split(":", 1)[0],
            "slack": settings.slack_enabled,
            "socket_mode": settings.socket_mode,
        },
    )
    print(
        describe(
            Mode.SLACK,
            url=f"{host}:{port}",
            slack_api_url=settings.slack_api_url,
            socket_mode=settings.socket_mode,
        ),
        file=sys.stderr,
    )
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=10)
    except SettingsError as exc:  # Slack refused the app token when Socket Mode opened (bot.socket_mode)
        raise StartupError(str(exc)) from None
    return 0


def serve_sandbox(args: argparse.Namespace) -> int:
    """No Slack credentials: the real bot against a local fake Slack and Jira, with a page to use it.
    The sandbox is an optional part (the `sandbox` extra): imported here, and only here."""
    try:
        from sandbox.server import run_sandbox
    except ModuleNotFoundError as exc:
        raise StartupError(
            f"sandbox mode needs the sandbox's dependencies ({exc.name} is not installed): "
            "pip install 'supportbridge[sandbox]' (`make run` does), or set SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET to run against real Slack"
        ) from None

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        return run_sandbox(settings, host=args.host, port=args.port, unsafe_public=args.unsafe_public_sandbox)
    except (ConfigError, SettingsError) as exc:
        raise StartupError(str(exc)) from None


def cmd_worker(_args: argparse.Namespace) -> int:
    from bot.app import build_runtime

    settings, config = load_all()
    configure_logging(settings.log_level, settings.log_format)
    if settings.slack_bot_token is None:
        raise StartupError("SLACK_BOT_TOKEN is not set: the worker has nothing to deliver with")

    async def run() -> None:
        runtime = build_runtime(settings, config)
        if settings.is_sqlite:
            from db.migrate import upgrade

            await upgrade(runtime.database)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        assert runtime.slack is not None
        await runtime.slack.open()
        runtime.start_background()
        metrics_runner = None
        if settings.metrics_port:
            from handlers.metrics import start_metrics_server

            metrics_runner = await start_metrics_server(runtime, settings.host, settings.metrics_port)
        log.info("worker started", extra={"mailbox": runtime.mail is not None})
        await stop.wait()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runtime.stop_background()
        await runtime.slack.close()
        await runtime.database.dispose()

    asyncio.run(run())
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade
    from db.session import Database

    settings = load_settings()
    configure_logging(settings.log_level, "text")

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(run())
    print("database schema is up to date")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from bot.checks import CheckResults, run_checks

    try:
        settings = load_settings()
    except StartupError as exc:
        results = CheckResults()
        results.fail("settings", str(exc), "fix that environment variable (README → Settings)")
    else:
        try:
            config: AppConfig | None = load_config(settings.supportbridge_config)
        except ConfigError as exc:
            config = None
            problem = CheckResults()
            problem.fail("config", str(exc), "fix that key (supportbridge.example.yml shows each one)")
        else:
            problem = CheckResults()
        results = asyncio.run(run_checks(settings, config))
        results.findings[:0] = problem.findings
    if args.json:
        print(json.dumps([finding.as_json() for finding in results.findings], ensure_ascii=False, indent=2))
    else:
        for line in results.lines:
            print(line)
    return 1 if results.failed else 0


def _window_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days") from None
    if not 1 <= days <= 365:
        raise argparse.ArgumentTypeError("the window is 1 to 365 days")
    return days


def cmd_digest(args: argparse.Namespace) -> int:
    """`supportbridge digest --print [--days N]`: the digest of the last N days, in the terminal."""
    from sqlalchemy.exc import DBAPIError

    from bot.services.digest import compute_digest
    from bot.views.digest import render_text
    from db.models import utcnow
    from db.session import Database, DatabaseUnavailable

    if not args.print:
        print(
            "supportbridge digest: add --print to print it here (the channel gets it on schedule, or from "
            "`/support digest` in Slack)",
            file=sys.stderr,
        )
        return 2
    settings = load_settings()
    configure_logging(settings.log_level, "text")
    try:
        config = load_config(settings.supportbridge_config)
    except ConfigError as exc:
        print(f"supportbridge digest: {exc}", file=sys.stderr)
        return 1
    end = utcnow()
    start = end - timedelta(days=args.days)

    async def run() -> str:
        database = Database(settings.database_url)
        try:
            digest = await database.transaction(lambda conn: compute_digest(conn, config, start, end))
        finally:
            await database.dispose()
        return render_text(digest, config.zone)

    try:
        print(asyncio.run(run()), end="")
    except DatabaseUnavailable:
        print(
            "supportbridge digest: the database is unavailable (or not set up: run `supportbridge migrate`)",
            file=sys.stderr,
        )
        return 1
    except DBAPIError:
        print(
            "supportbridge digest: the database schema is not there: run `supportbridge migrate` first",
            file=sys.stderr,
        )
        return 1
    return 0


def _delivery_id(value: str) -> int:
    from bot.domain.numbers import parse_number

    number = parse_number(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a delivery id (a number from the list)")
    return number


def cmd_deliveries(args: argparse.Namespace) -> int:
    """`supportbridge deliveries [retry|drop] [ID…|--all]`: the dead letter, listed and handled."""
    from bot.services.outbox import dead_deliveries, drop_dead, retry_dead
    from db.session import Database, DatabaseUnavailable

    settings = load_settings()
    action = args.action or "list"
    if action != "list" and not args.ids and not args.all:
        print(f"supportbridge deliveries {action}: name the ids (from the list) or --all", file=sys.stderr)
        return 2

    async def run() -> str:
        database = Database(settings.database_url)
        try:
            if action == "list":
                dead = await dead_deliveries(database)
                if not dead:
                    return "no dead deliveries\n"
                lines = [f"{len(dead)} dead delivery(ies), the latest first:"]
                lines += [
                    f"  #{d.id}  {d.kind}  given up {d.given_up_at:%Y-%m-%d %H:%M} after {d.attempts} "
                    f"attempt(s): {d.reason}"
                    for d in dead
                ]
                lines.append("`supportbridge deliveries retry ID…` sends again; `drop ID…` forgets.")
                return "\n".join(lines) + "\n"
            ids = None if args.all else list(args.ids)
            if action == "retry":
                return f"{await retry_dead(database, ids)} delivery(ies) will be sent again\n"
            return f"{await drop_dead(database, ids)} delivery(ies) dropped\n"
        finally:
            await database.dispose()

    try:
        print(asyncio.run(run()), end="")
    except DatabaseUnavailable:
        print("supportbridge deliveries: the database is unavailable", file=sys.stderr)
        return 1
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from bot import manifest

    try:
        print(manifest.render(socket=args.socket_mode, url=args.url), end="")
    except (manifest.ManifestError, OSError) as exc:
        print(f"supportbridge manifest: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbridge", description="Customer issues, in Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server (Slack, intake, health)")
    serve.add_argument("--host", help="address to listen on (default HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (default PORT or 3000)")
    serve.add_argument(
        "--no-deliveries",
        action="store_true",
        help="do not send outbox deliveries from this process (a separate `worker` does)",
    )
    serve.add_argument(
        "--unsafe-public-sandbox",
        action="store_true",
        help="sandbox mode only: allow a non-loopback --host (the page signs requests for anyone)",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="send outbox deliveries (for a separate process)").set_defaults(
        func=cmd_worker
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    digest = sub.add_parser("digest", help="the complaint digest of the last days")
    digest.add_argument("--print", action="store_true", help="print it in the terminal")
    digest.add_argument(
        "--days", type=_window_days, default=7, help="the window in days, 1 to 365 (default 7)"
    )
    digest.set_defaults(func=cmd_digest)
    deliveries = sub.add_parser(
        "deliveries", help="the dead letter: deliveries given up (list, retry or drop them)"
    )
    deliveries.add_argument("action", nargs="?", choices=["list", "retry", "drop"], help="default: list")
    deliveries.add_argument("ids", nargs="*", type=_delivery_id, help="delivery ids, as listed")
    deliveries.add_argument("--all", action="store_true", help="every dead delivery")
    deliveries.set_defaults(func=cmd_deliveries)
    check = sub.add_parser(
        "check", help="validate the configuration against Slack and Jira, and try the credentials"
    )
    check.add_argument("--json", action="store_true", help="print the findings as one JSON list")
    check.set_defaults(func=cmd_check)
    manifest = sub.add_parser("manifest", help="print the Slack app manifest (HTTP or Socket Mode)")
    way = manifest.add_mutually_exclusive_group()
    way.add_argument("--socket-mode", action="store_true", help="no request URLs, Socket Mode on")
    way.add_argument("--url", help="the bot's public https:// address, for the request URLs")
    manifest.set_defaults(func=cmd_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StartupError as exc:
        print(f"supportbridge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
