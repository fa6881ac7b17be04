"""The layers' import rules (docs: CONVENTIONS.md, "The layers"), read from the source with an AST walk:
every `import` and `from … import` anywhere in a module counts, inside functions and `TYPE_CHECKING`
blocks too.

- services never import views; views never import services, `db`, integrations or SQLAlchemy;
- the domain imports none of services, views, `db`, integrations, handlers, SQLAlchemy or the Slack SDK;
- schedules never import handlers; integrations never import services, handlers or views;
- nothing in `bot` imports the sandbox (but for the breaches listed in `ALLOWED`);
- nobody imports another module's private name (`from m import _x`).

And every scheduled job is built by `schedules.scheduler.guarded_job`. Each check is shown failing on a
small synthetic source, so a walk that silently finds nothing cannot pass.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "db", "integrations", "schedules", "sandbox")

# (modules the rule applies to, imports they may not make): a prefix names a package and everything in it.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bot.services", ("bot.views",)),
    ("bot.views", ("bot.services", "db", "integrations", "sqlalchemy")),
    (
        "bot.domain",
        ("bot.services", "bot.views", "db", "integrations", "handlers", "sqlalchemy", "slack_sdk"),
    ),
    ("schedules", ("handlers",)),
    ("integrations", ("bot.services", "handlers", "bot.views")),
    ("bot", ("sandbox",)),
)

# Known breaches, each with the reason it stands; the test fails when one is no longer needed.
# `serve` and `sandbox` start the local sandbox from the CLI until it becomes an optional extra (issue 13).
# The one way into the sandbox: `serve` without Slack credentials imports it, lazily (an optional part).
ALLOWED: frozenset[tuple[str, str]] = frozenset({("bot.cli", "sandbox.server")})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for `from m import n`: m, or m.n when that is a module)
    names: tuple[str, ...]  # the names taken by `from m import …`; empty for `import m`
    line: int


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _allowed(item: Import) -> bool:
    return any(item.module == module and _within(item.target, target) for module, target in ALLOWED)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = tuple(alias.name for alias in node.names)
            found.append(Import(module, base, names, node.lineno))
            # `from bot.views import shadowing` imports the module bot.views.shadowing.
            found.extend(Import(module, f"{base}.{name}", (), node.lineno) for name in names)
    return found


def breaches(imports: list[Import]) -> list[str]:
    """Every import that breaks a rule (or takes a private name), as "module:line imports target"."""
    found: list[str] = []
    for item in imports:
        for scope, forbidden in RULES:
            if not _within(item.module, scope):
                continue
            for banned in forbidden:
                if _within(item.target, banned) and not _allowed(item):
                    found.append(f"{item.module}:{item.line} imports {item.target}")
        private = [n for n in item.names if n.startswith("_") and not n.startswith("__")]
        if private and item.target != item.module:
            found.append(f"{item.module}:{item.line} imports private {', '.join(private)} from {item.target}")
    return found


def product_imports() -> list[Import]:
    found: list[Import] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.extend(
                imports_of(
                    module_name(path), path.read_text(encoding="utf-8"), is_package=path.stem == "__init__"
                )
            )
    return found


def test_the_product_keeps_the_import_rules() -> None:
    imports = product_imports()
    assert len({i.module for i in imports}) > 50  # the walk found the product, not an empty folder
    assert breaches(imports) == []


def test_every_allowed_breach_is_still_needed() -> None:
    imports = product_imports()
    unused = [
        (module, target)
        for module, target in sorted(ALLOWED)
        if not any(i.module == module and _within(i.target, target) for i in imports)
    ]
    assert unused == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("bot.services.cards", "from bot.views.issue_card import render_issue_card\n", "imports bot.views"),
        ("bot.services.cards", "from bot.views import issue_card\n", "imports bot.views.issue_card"),
        ("bot.views.home", "def f():\n    from bot.services import home\n", "imports bot.services"),
        ("bot.views.home", "import sqlalchemy.engine\n", "imports sqlalchemy.engine"),
        ("bot.views.home", "from db.models import issues\n", "imports db.models"),
        ("bot.domain.cards", "from slack_sdk.errors import SlackApiError\n", "imports slack_sdk.errors"),
        ("bot.domain.cards", "from handlers import common\n", "imports handlers"),
        ("schedules.digest", "import handlers.digest\n", "imports handlers.digest"),
        ("integrations.slack", "from bot.services.outbox import Deliverer\n", "imports bot.services.outbox"),
        ("bot.app", "from sandbox.fakes import slack_api\n", "imports sandbox.fakes"),
        ("bot.config", "from bot.sla import _parse_hh_mm\n", "imports private _parse_hh_mm from bot.sla"),
        ("sandbox.fakes.jira_api", "from .slack_api import _helper\n", "from sandbox.fakes.slack_api"),
    ],
)
def test_a_breach_is_found(module: str, source: str, expected: str) -> None:
    found = breaches(imports_of(module, source))
    assert found and all(module in line for line in found)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("bot.views.home", "from bot.domain.home import Home\nfrom bot.views.blocks import section\n"),
        ("bot.services.cards", "from bot.domain.cards import IssueCard\nfrom sqlalchemy import select\n"),
        (
            "bot.deliveries.cards",
            "from bot.services.cards import load_card_state\nfrom bot.views import issue_card\n",
        ),
        (
            "handlers.shadowing",
            "from bot.services import shadowing\nfrom bot.views import shadowing as views\n",
        ),
        ("bot.sla", "from __future__ import annotations\n"),
        ("bot.views.blocks", "class A:\n    def _own(self): ...\n"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert breaches(imports_of(module, source)) == []


def unguarded_jobs(module: str, source: str) -> list[str]:
    """`add_job` calls whose job was not just built by `guarded_job` in the same function."""
    found: list[str] = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        guarded: set[str] = set()
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "guarded_job"
            ):
                guarded.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_job"
            ):
                job = node.args[0] if node.args else None
                if not (isinstance(job, ast.Name) and job.id in guarded):
                    found.append(f"{module}:{node.lineno}")
    return found


def test_every_scheduled_job_runs_through_guarded_job() -> None:
    found: list[str] = []
    for path in sorted((ROOT / "schedules").glob("*.py")):
        if path.stem != "scheduler":  # the Scheduler itself hands the jobs to APScheduler
            found.extend(unguarded_jobs(module_name(path), path.read_text(encoding="utf-8")))
    assert found == []


def test_an_unguarded_job_is_found() -> None:
    source = (
        "def register(scheduler, database, config, wake):\n"
        "    job = guarded_job('a', lambda: tick(database), wake)\n"
        "    scheduler.add_job(job, 'interval', seconds=30)\n"
        "    async def raw() -> None: ...\n"
        "    scheduler.add_job(raw, 'interval', seconds=30)\n"
    )
    assert unguarded_jobs("schedules.example", source) == ["schedules.example:5"]
