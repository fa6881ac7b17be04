"""GET /healthz (the process answers) and GET /readyz (this process can serve: its database answers,
its schema is current and, where it runs deliveries, its delivery loop is alive)."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime
from bot.services.outbox import outbox_health
from db.migrate import pending_revisions
from db.session import DatabaseUnavailable, answer_within
from handlers.common import runtime_of_request

# A load balancer's check must get its answer in time: a hung database is "unavailable", not a hang.
READY_DEADLINE_SECONDS = 2.0


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = runtime_of_request(request)
    checks: dict[str, object] = {}
    try:
        await answer_within(_database_checks(runtime, checks), READY_DEADLINE_SECONDS)
    except (DatabaseUnavailable, TimeoutError):
        checks["database"] = "unavailable"
        ready = False
    else:
        ready = checks.get("migrations") == "ok"
    if runtime.deliverer.started:
        loop_alive = runtime.deliverer.alive
        checks["delivery_loop"] = "ok" if loop_alive else "not running"
        ready = ready and loop_alive
    status = "ready" if ready else "not ready"
    headers = {} if ready else {"Retry-After": "5"}
    return web.json_response(
        {"status": status, "checks": checks}, status=200 if ready else 503, headers=headers
    )


async def _database_checks(runtime: Runtime, checks: dict[str, object]) -> None:
    await runtime.database.ping()
    checks["database"] = "ok"
    pending = await pending_revisions(runtime.database)
    checks["migrations"] = "ok" if not pending else f"{len(pending)} pending: run supportbridge migrate"
    # Shown, not gating: a delivery that keeps failing (one channel archived, say) is not a reason to
    # take this process out of the load balancer; `supportbridge check` and the log report it.
    health = await outbox_health(runtime.database, runtime.config.deliveries)
    checks["deliveries"] = {
        "pending": health.pending,
        "stuck": health.stuck,
        "dead": health.dead,
        "oldest_pending_seconds": round(health.oldest_pending_seconds or 0.0, 1),
        "last_error": health.last_error,
    }


def register(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
