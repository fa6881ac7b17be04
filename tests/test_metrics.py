"""GET /metrics: the real app after really signed Slack requests and intakes, the worker's own
registry, and the dashboard and alert rules naming only series the app exports."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any, get_args

import promql_parser
import pytest
import yaml
from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from bot import metrics
from bot.app import build_runtime
from db.session import DatabaseUnavailable
from handlers.metrics import METRICS_STATE, start_metrics_server
from integrations.jira_client import JiraGateway, JiraRejected
from schedules.scheduler import guarded_job
from tests.harness import Stack, click, make_issue_payload, new_card

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "supportbridge.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SERIES = re.compile(r"\bsupportbridge_[a-z_]+\b")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape_text(stack: Stack) -> str:
    response = await stack.http.get(stack.url("/metrics"))  # no signature, no headers
    assert response.status == 200
    assert response.content_type == "text/plain"
    return await response.text()


def samples_of(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def sample(name: str, **labels: str) -> float:
    """A series' value in this process's registry (0 before it is first counted)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def exported_names(text: str) -> set[str]:
    """Every series name a query may use: the samples, and for families with no sample yet (a labelled
    gauge nothing has set) the names their type gives them."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        elif family.type == "gauge":
            names.add(family.name)
    return names


async def some_traffic(stack: Stack, subject: str) -> dict[str, Any]:
    ana = stack.slack.add_user("ana")
    payload = make_issue_payload(subject=subject, customer={"id": "cust-zq", "name": "Quenby Zephyrine"})
    response = await stack.webhook(payload)
    assert response.status == 202
    issue_id = (await response.json())["id"]
    again = await stack.webhook(payload)  # same source + external_id: a repeat
    assert again.status == 200
    refused = await stack.webhook(make_issue_payload(), secret="whsec_" + "A" * 32)
    assert refused.status == 401
    recorded = await stack.wait_for_recorded_card(issue_id)
    card = stack.slack.message(recorded.channel, recorded.ts)
    await click(stack, card, "issue.claim", ana)
    command = await stack.slash_command("search invoice", user=ana, channel=stack.channels["default"])
    assert command.status == 200
    reaction = await stack.slack_event({"type": "app_home_opened", "user": ana, "tab": "home"})
    assert reaction.status == 200
    return {"issue": issue_id, "card": card}


async def test_traffic_is_counted_by_kind_outcome_source_and_result(stack: Stack) -> None:
    stack.server.app[METRICS_STATE].ttl = 0  # the gauges as of each scrape below
    before = samples_of(await scrape_text(stack))
    subject = "Frobnicator zebracorn melts the quux ledger"
    await some_traffic(stack, subject)
    await stack.slack.wait_for(
        lambda: any(m.get("text") for m in stack.slack.messages(stack.channels["default"])),
        message="a card posted",
    )
    text = await scrape_text(stack)
    after = samples_of(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    intakes = "supportbridge_intakes_total"
    assert delta(intakes, source="webhook", result="new", reason="") == 1
    assert delta(intakes, source="webhook", result="repeat", reason="") == 1
    assert delta(intakes, source="webhook", result="rejected", reason="bad_signature") == 1
    latency = "supportbridge_request_seconds_count"
    assert delta(latency, kind="intake", outcome="ok") == 2
    assert delta(latency, kind="intake", outcome="refused") == 1
    assert delta(latency, kind="action", outcome="ok") == 1
    assert delta(latency, kind="command", outcome="ok") == 1
    assert delta(latency, kind="event", outcome="ok") == 1
    assert delta("supportbridge_slack_calls_total", method="chat.postMessage", outcome="ok") >= 1
    assert delta("supportbridge_deliveries_total", kind="sync_card", outcome="done") >= 1
    # A new card's delivery went through each of its stages (what `make bench` prints per card).
    for stage in ("claim", "load", "match", "suggest", "render", "slack", "record"):
        assert delta("supportbridge_delivery_stage_seconds_count", stage=stage) >= 1, stage
    assert delta("supportbridge_first_response_seconds_count", severity="normal") == 1
    assert value(after, "supportbridge_open_problems", severity="normal") >= 1
    assert value(after, "supportbridge_build_info", version="0.1.0") == 1
    assert value(after, "supportbridge_socket_mode_connections") == 0
    # Customer text never becomes a label value, nor appears anywhere on the page.
    for customer_text in ("zebracorn", "Frobnicator", "Quenby", "Zephyrine", "cust-zq", "acme.test"):
        assert customer_text not in text


async def test_a_429_is_counted_with_the_retry_after_asked(stack: Stack) -> None:
    before = samples_of(await scrape_text(stack))
    stack.slack.fail("chat.postMessage", status=429, retry_after=1)
    await new_card(stack)
    after = samples_of(await scrape_text(stack))
    name = "supportbridge_slack_calls_total"
    assert (
        value(after, name, method="chat.postMessage", outcome="ratelimited")
        - value(before, name, method="chat.postMessage", outcome="ratelimited")
        == 1
    )
    waited = "supportbridge_slack_retry_after_seconds_sum"
    assert (
        value(after, waited, method="chat.postMessage") - value(before, waited, method="chat.postMessage")
        == 1
    )


async def test_scrapes_are_cached_and_need_no_signature(stack: Stack) -> None:
    """One round of queries for a burst of scrapes (the background loops' own statements aside)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "GROUP BY outbox.kind, outbox.status" in statement:
            statements.append(statement)

    engine = stack.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(6):
            await scrape_text(stack)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


async def test_outbox_gauges_show_pending_deliveries_by_kind(stack: Stack) -> None:
    stack.server.app[METRICS_STATE].ttl = 0
    stack.slack.fail_all("chat.postMessage", status=500)
    response = await stack.webhook(make_issue_payload())
    assert response.status == 202
    await stack.slack.wait_for(lambda: stack.slack.calls_to("chat.postMessage"), message="a post tried")
    text = await scrape_text(stack)
    after = samples_of(text)
    assert value(after, "supportbridge_outbox_pending", kind="sync_card") >= 1
    assert value(after, "supportbridge_outbox_oldest_pending_seconds", kind="sync_card") >= 0
    stack.slack.recover()


async def test_the_worker_serves_its_own_metrics(database: Any, make_config: Any, make_settings: Any) -> None:
    """The worker's registry on its own port (METRICS_PORT; 0 here: any free port)."""
    settings = make_settings()
    assert settings.metrics_port == 9102
    runtime = build_runtime(settings, make_config(), database)
    runner = await start_metrics_server(runtime, "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status == 200
            text = await response.text()
    finally:
        await runner.cleanup()
    names = exported_names(text)
    assert {
        "supportbridge_outbox_pending",
        "supportbridge_open_problems",
        "supportbridge_build_info",
    } <= names
    assert value(samples_of(text), "supportbridge_unclaimed_past_sla", severity="urgent") == 0


async def test_guarded_jobs_count_runs_and_skips() -> None:
    woken: list[bool] = []

    async def enqueues() -> bool:
        return True

    async def database_down() -> bool:
        raise DatabaseUnavailable("OperationalError")

    runs = "supportbridge_scheduler_runs_total"
    enqueued_before = sample(runs, job="metrics_test_job", outcome="enqueued")
    skipped_before = sample(runs, job="metrics_test_down", outcome="skipped")
    await guarded_job("metrics_test_job", enqueues, lambda: woken.append(True))()
    await guarded_job("metrics_test_down", database_down, lambda: woken.append(True))()
    assert sample(runs, job="metrics_test_job", outcome="enqueued") == enqueued_before + 1
    assert sample(runs, job="metrics_test_down", outcome="skipped") == skipped_before + 1
    assert woken == [True]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def test_dashboard_and_alerts_parse_and_name_only_exported_series(stack: Stack) -> None:
    await some_traffic(stack, "Dashboard traffic")
    exported = exported_names(await scrape_text(stack))
    expressions = dashboard_expressions() + alert_expressions()
    assert len(expressions) >= 10
    for expression in expressions:
        promql_parser.parse(expression)  # raises on a syntax error
        referenced = set(SERIES.findall(expression))
        assert referenced, expression
        assert referenced <= exported, (expression, referenced - exported)
    titles = " ".join(json.loads(DASHBOARD.read_text())["panels"][i]["title"] for i in range(5))
    assert "ack latency" in titles.lower()


async def test_jira_calls_are_counted_by_operation_and_outcome(jira: Any) -> None:
    gateway = JiraGateway(jira.url, jira.email, jira.api_token, timeout=2)
    calls = "supportbridge_jira_calls_total"
    fetched_before = sample(calls, operation="get_issue", outcome="ok")
    probed_before = sample(calls, operation="server_info", outcome="ok")
    timed_before = sample("supportbridge_jira_call_seconds_sum", operation="server_info")
    assert await gateway.get_issue("PROJ-404") is None  # Jira answered: no such issue
    await gateway.server_info()
    assert sample(calls, operation="get_issue", outcome="ok") == fetched_before + 1
    assert sample(calls, operation="server_info", outcome="ok") == probed_before + 1
    assert sample("supportbridge_jira_call_seconds_sum", operation="server_info") > timed_before
    # A write refused by Jira is counted under its own operation, with the outcome it had.
    missing_before = sample(calls, operation="add_comment", outcome="not_found")
    with pytest.raises(JiraRejected, match="PROJ-404 was not found"):
        await gateway.add_comment("PROJ-404", "Any news?")
    assert sample(calls, operation="add_comment", outcome="not_found") == missing_before + 1


def test_every_jira_call_names_its_operation_from_one_fixed_set() -> None:
    from integrations.jira_client import JiraOperation

    public_calls = {
        name
        for name, member in vars(JiraGateway).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }
    # The label is the method's name, as it was: dashboards and alerts keep working.
    assert set(get_args(JiraOperation)) == public_calls
    assert "_getframe" not in inspect.getsource(JiraGateway)
    for name in public_calls:  # each call site passes its own name, not a neighbour's
        assert f'"{name}"' in inspect.getsource(getattr(JiraGateway, name)), name
