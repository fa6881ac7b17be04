"""The shape of the handlers, checked on their source (an AST walk): thin listeners at module level that
take the runtime from Bolt's context, read Slack payloads through `handlers.payload` only, and leave SQL
to `db.queries` and the services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HANDLERS = Path(__file__).resolve().parents[1] / "handlers"
MODULES = sorted(p for p in HANDLERS.glob("*.py") if p.name != "__init__.py")
PAYLOAD = HANDLERS / "payload.py"
# The raw dicts Bolt can inject into a listener by argument name; listeners take `body` instead and
# turn it into a typed payload at once.
RAW_ARGUMENTS = {"command", "view", "action", "event", "options", "shortcut", "message", "payload"}
BOLT_DECORATORS = {
    "action",
    "command",
    "view",
    "event",
    "options",
    "shortcut",
    "message",
    "use",
    "middleware",
}
LISTENER_ARGUMENTS = {"ack", "body", "context", "next", "request", "_request"}
SQL_CALLS = {"execute", "scalar", "scalars", "select", "insert", "update", "delete", "text"}


def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def where(path: Path, node: ast.AST) -> str:
    return f"{path.name}:{getattr(node, 'lineno', '?')}"


def is_slack_body(argument: ast.arg) -> bool:
    """A listener's `body: dict[str, Any]` (the webhooks' `body` is the raw bytes of a request)."""
    return (
        argument.arg == "body"
        and argument.annotation is not None
        and "dict" in ast.unparse(argument.annotation)
    )


def is_untyped_dict(argument: ast.arg) -> bool:
    annotation = ast.unparse(argument.annotation) if argument.annotation is not None else "Any"
    return "dict" in annotation or "Any" in annotation or "Mapping" in annotation


def test_every_handlers_module_is_checked() -> None:
    names = {p.stem for p in MODULES}
    assert {"payload", "common", "home", "triage", "shadowing", "jira_webhook", "intake_http"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_handlers_run_no_sql(path: Path) -> None:
    tree = tree_of(path)
    imports = [
        where(path, node)
        for node in ast.walk(tree)
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy")
    ]
    assert imports == [], "handlers import no SQLAlchemy: put the statement in db/queries or a service"
    calls = [
        where(path, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in {"execute", "scalar", "scalars"})
            or (isinstance(node.func, ast.Name) and node.func.id in SQL_CALLS)
        )
    ]
    assert calls == [], "handlers build and run no statements"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_listeners_are_module_level_and_registered_explicitly(path: Path) -> None:
    tree = tree_of(path)
    for register in (n for n in functions(tree) if n.name == "register"):
        assert register in tree.body, f"{where(path, register)}: register is a module-level function"
        nested = [
            where(path, node)
            for node in ast.walk(register)
            if node is not register and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        ]
        assert nested == [], "register attaches module-level listeners; it defines none (no closures)"
        assert [a.arg for a in register.args.args][1:] in ([], ["settings"]), (
            f"{where(path, register)}: register takes the app (the runtime comes from the request's context)"
        )
    decorated = [
        where(path, function)
        for function in functions(tree)
        for decorator in function.decorator_list
        if isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in BOLT_DECORATORS
    ]
    assert decorated == [], "listeners are attached in register, not by decorators on a global app"


@pytest.mark.parametrize("path", [p for p in MODULES if p != PAYLOAD], ids=lambda p: p.stem)
def test_slack_payloads_are_read_through_the_payload_module(path: Path) -> None:
    for function in functions(tree_of(path)):
        arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
        raw = [a.arg for a in arguments if a.arg in RAW_ARGUMENTS and is_untyped_dict(a)]
        assert raw == [], f"{where(path, function)}: take `body` and parse it with handlers.payload"
        if not any(is_slack_body(a) for a in arguments):
            continue
        parsed_by = {
            id(call.args[0])
            for call in ast.walk(function)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "from_body"
            and call.args
        }
        raw_uses = [
            where(path, node)
            for node in ast.walk(function)
            if isinstance(node, ast.Name) and node.id == "body" and id(node) not in parsed_by
        ]
        assert raw_uses == [], "a Slack body is only handed to a payload's from_body, never indexed"


def listeners_of(tree: ast.Module) -> set[str]:
    """The functions `register` attaches: `app.action(...)(listener)`, and its matchers and middleware."""
    found: set[str] = set()
    for register in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"):
        for call in ast.walk(register):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Call):
                found.update(a.id for a in call.args if isinstance(a, ast.Name))
                for keyword in call.func.keywords:
                    if isinstance(keyword.value, ast.List):
                        found.update(e.id for e in keyword.value.elts if isinstance(e, ast.Name))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_the_runtime_comes_from_the_context(path: Path) -> None:
    """Listeners take what Bolt (or aiohttp) hands them, and find the runtime in the context (or the
    request's app); none is handed one by register."""
    tree = tree_of(path)
    listeners = listeners_of(tree)
    for function in functions(tree):
        if function.name in listeners:
            names = {a.arg for a in function.args.args}
            assert names <= LISTENER_ARGUMENTS, (
                f"{where(path, function)}: {sorted(names - LISTENER_ARGUMENTS)}"
            )
