"""GET /metrics: this process's Prometheus series (`bot.metrics`), no signature needed.

The scrape-time gauges are refreshed first (cached a few seconds, bounded by `SCRAPE_DEADLINE_SECONDS`
so a hung database cannot hang a scrape: the counters are answered with the last gauges). `worker`
serves the same page on `METRICS_PORT` (`metrics_app`), so each process reports its own series.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot import metrics
from bot.runtime import Runtime
from bot.services.metrics_state import MetricsState
from db.session import answer_within
from handlers.common import RUNTIME, runtime_of_request

log = logging.getLogger(__name__)

SCRAPE_DEADLINE_SECONDS = 2.0
METRICS_STATE = web.AppKey("metrics_state", MetricsState)


async def metrics_page(request: web.Request) -> web.Response:
    runtime = runtime_of_request(request)
    state = request.app[METRICS_STATE]
    try:
        await answer_within(state.refresh(runtime.database, runtime.config), SCRAPE_DEADLINE_SECONDS)
    except TimeoutError:
        metrics.DB_ERRORS.labels(kind="unavailable").inc()
        log.warning("metrics: the database did not answer in time; gauges are the last known")
    return metrics.metrics_response()


def register(app: web.Application) -> None:
    app[METRICS_STATE] = MetricsState()
    app.router.add_get("/metrics", metrics_page)


def metrics_app(runtime: Runtime) -> web.Application:
    """The worker's own /metrics (it has no other HTTP routes)."""
    app = web.Application()
    app[RUNTIME] = runtime
    register(app)
    return app


async def start_metrics_server(runtime: Runtime, host: str, port: int) -> web.AppRunner:
    """Serve `metrics_app` on `host:port` (port 0: any free one, see `runner.addresses`)."""
    runner = web.AppRunner(metrics_app(runtime), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics served", extra={"port": runner.addresses[0][1] if runner.addresses else port})
    return runner
