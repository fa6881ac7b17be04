"""Contract checks for the fake Slack and Jira servers.

The published API contracts live in the folder named by the ``SUPPORTBRIDGE_CONTRACTS``
setting (by default ``../shared/contracts``, beside the checkout; see its README): an OpenAPI
description of Slack's Web API and one of Jira Cloud's platform REST API. Whoever starts the
fakes names the folder with :func:`use_contracts` (the sandbox from its settings, the tests in
their conftest).  The fakes in this package run every request they receive (and
every success response they send) through those documents with ``openapi-core``, so a
test that passes against a fake proves the bot speaks the real services' language.

Block Kit is not described by the Slack spec; blocks and views are checked with
``slack_sdk.models`` plus Slack's documented size limits.

Each spec takes about a second to load, so both are loaded lazily, once per process and folder.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from bot.settings import DEFAULT_CONTRACTS

log = logging.getLogger(__name__)

SLACK_SERVER = "https://slack.com"  # the spec's server URL is https://slack.com/api
JIRA_SERVER = "https://your-domain.atlassian.net"

SLACK_SPEC_FILE = Path("slack") / "web-api.openapi.json"
JIRA_SPEC_FILE = Path("jira") / "platform.openapi.json"
INTERCOM_SPEC_FILE = Path("intercom") / "api.intercom.io.yaml"
INTERCOM_SERVER = "https://api.intercom.io"

# Slack's documented Block Kit limits (https://api.slack.com/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELD_TEXT = 2000
MAX_SECTION_FIELDS = 10
MAX_ID_LENGTH = 255  # action_id, block_id, callback_id
MAX_BUTTON_VALUE = 2000
MAX_PRIVATE_METADATA = 3000
MAX_MESSAGE_TEXT = 40000

# Arguments that Slack accepts as JSON-encoded strings in form bodies / query strings
# (and as real objects in JSON bodies).
SLACK_JSON_ARGS = frozenset(
    {"attachments", "blocks", "view", "metadata", "unfurls", "profile", "prefs", "dialog"}
)
# Methods whose `blocks`/`text` form a message.
SLACK_MESSAGE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"}
)
SLACK_VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})


class ContractViolation(Exception):
    """A request (or response) does not satisfy the published contract."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- spec loading


_folder: Path | None = None  # set by use_contracts(); until then the setting's default


def _contracts_folder() -> Path:
    return _folder if _folder is not None else DEFAULT_CONTRACTS.resolve()


def use_contracts(folder: Path) -> Path | None:
    """Check the fakes' traffic against the contracts in ``folder`` from now on. Returns the folder
    (absolute) when both spec files are in it; otherwise logs a WARNING, since the fakes then cannot
    check anything, and returns None."""
    global _folder
    _folder = folder.resolve()
    found = contracts_dir()
    if found is None:
        log.warning(
            f"API contracts not found in {_folder}: the fake Slack and Jira cannot check requests "
            "against them (set SUPPORTBRIDGE_CONTRACTS to the folder holding slack/ and jira/)",
            extra={"expected": str(_folder)},
        )
    return found


def contracts_dir() -> Path | None:
    """The contracts folder (see :func:`use_contracts`) when both spec files are in it, else ``None``."""
    root = _contracts_folder()
    if (root / SLACK_SPEC_FILE).is_file() and (root / JIRA_SPEC_FILE).is_file():
        return root
    return None


def contracts_missing_reason() -> str:
    """A human-readable reason for ``pytest.skip`` when :func:`contracts_dir` is ``None``."""
    expected = _contracts_folder()
    return (
        f"API contracts not found: expected {expected / SLACK_SPEC_FILE} and {expected / JIRA_SPEC_FILE} "
        "(the published Slack/Jira API contracts, by default in ../shared/contracts beside the checkout; "
        "SUPPORTBRIDGE_CONTRACTS names another folder; CI always has them)"
    )


@functools.cache
def _load(path: Path) -> OpenAPI:
    # The published Slack spec has a few invalid `items` (tuple form), so the spec
    # itself is not validated; request/response validation still works.
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))


def _spec(relative: Path) -> OpenAPI:
    root = contracts_dir()
    if root is None:
        raise FileNotFoundError(contracts_missing_reason())
    return _load(root / relative)


def slack_spec() -> OpenAPI:
    """The Slack Web API contract (loaded once per process and folder, ~1 s)."""
    return _spec(SLACK_SPEC_FILE)


def jira_spec() -> OpenAPI:
    """The Jira Cloud platform contract (loaded once per process and folder, ~1-2 s)."""
    return _spec(JIRA_SPEC_FILE)


def intercom_contract_missing_reason() -> str | None:
    """Why the Intercom contract cannot be checked (for ``pytest.skip``), or None when it is there."""
    path = _contracts_folder() / INTERCOM_SPEC_FILE
    if path.is_file():
        return None
    return f"Intercom API contract not found: expected {path} (../shared/contracts beside the checkout)"


def intercom_spec() -> OpenAPI:
    """Intercom's REST API contract, 2.14 (loaded once per process and folder)."""
    reason = intercom_contract_missing_reason()
    if reason is not None:
        raise FileNotFoundError(reason)
    return _load(_contracts_folder() / INTERCOM_SPEC_FILE)


# --------------------------------------------------------------------------- error formatting


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text)} chars)"


def _schema_error_lines(exc: BaseException) -> Iterator[str]:
    """Readable lines for jsonschema errors carried by openapi-core exceptions."""
    for err in getattr(exc, "schema_errors", None) or ():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in getattr(err, "path", ()))
        where = f"at {path.lstrip('.')}: " if path else ""
        yield where + _short(getattr(err, "message", err))
    for err in getattr(exc, "errors", None) or ():  # ParametersError bundles several
        if isinstance(err, BaseException):
            yield from _describe_chain(err)


def _describe_chain(exc: BaseException) -> Iterator[str]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        details = list(_schema_error_lines(current))
        if details:
            yield from details
        else:
            text = str(current).splitlines()[0] if str(current) else type(current).__name__
            text = text.removeprefix(f"{type(current).__name__}: ")
            # openapi-core repeats the schema errors of the cause in the message: keep the head
            head = text.split("Value ")[0].rstrip(": ") if "Value " in text else text
            if head:
                yield _short(head)
        current = current.__cause__


def describe_openapi_error(exc: BaseException) -> str:
    """Turn an openapi-core validation exception into one readable line."""
    lines: list[str] = []
    for line in _describe_chain(exc):
        if line not in lines:
            lines.append(line)
    return "; ".join(lines) or type(exc).__name__


# --------------------------------------------------------------------------- Slack requests


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def _mimetype(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _decode_json_arg(name: str, value: Any) -> Any:
    if name in SLACK_JSON_ARGS and isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as e:
            raise ContractViolation(f"`{name}` is not valid JSON: {e}") from e
    return value


def parse_slack_args(
    http_method: str, headers: Mapping[str, str], body: bytes, query_string: str
) -> dict[str, Any]:
    """The arguments of a Web API call, wherever Slack accepts them.

    Slack reads arguments from the query string (GET, and POST too), from a form body or from a
    JSON body; in form bodies and query strings `blocks`/`attachments`/`view`/`metadata` are
    JSON-encoded strings, which are decoded here.  Body arguments win over query arguments.
    """
    args: dict[str, Any] = dict(parse_qsl(query_string, keep_blank_values=True))
    mimetype = _mimetype(_header(headers, "Content-Type"))
    if body and http_method.upper() != "GET":
        if mimetype == "application/json":
            try:
                parsed = json.loads(body)
            except ValueError as e:
                raise ContractViolation(f"invalid_json: {e}") from e
            if not isinstance(parsed, dict):
                raise ContractViolation("json_not_object: a JSON body must be an object")
            args.update(parsed)
        elif mimetype in ("application/x-www-form-urlencoded", ""):
            args.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {name: _decode_json_arg(name, value) for name, value in args.items()}


def _slack_mock_request(
    method_name: str, http_method: str, headers: Mapping[str, str], body: bytes, query_string: str
) -> MockRequest:
    content_type = _header(headers, "Content-Type") or "application/x-www-form-urlencoded"
    mimetype = _mimetype(content_type)
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    data = body
    if http_method.upper() == "POST" and query:
        # Slack reads arguments from the query string of a POST too, and slack_sdk's
        # AsyncWebClient sends its `params=` methods (auth.test, conversations.join,
        # reactions.add, ...) exactly that way: POST, empty body, arguments in the URL.
        # The spec models POST arguments only in the body, so fold them in first.
        if mimetype == "application/json" and body:
            try:
                merged: dict[str, Any] = {**query, **json.loads(body)}
            except (ValueError, TypeError):
                merged = {}
            data = json.dumps(merged).encode() if merged else body
        elif mimetype in ("application/x-www-form-urlencoded", "") or not body:
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            data = urlencode([*query.items(), *form]).encode()
            content_type = "application/x-www-form-urlencoded"
        query = {}
    wire_headers = {"Content-Type": content_type}
    auth = _header(headers, "Authorization")
    if auth is not None:
        wire_headers["Authorization"] = auth
    return MockRequest(
        SLACK_SERVER,
        http_method.lower(),
        "/api/" + method_name,
        headers=wire_headers,
        args=query,
        data=data,
        content_type=content_type,
    )


def validate_slack_request(
    method_name: str,
    http_method: str,
    headers: Mapping[str, str],
    body_bytes: bytes,
    query_string: str = "",
) -> dict[str, Any]:
    """Validate one Web API call against the Slack contract and Block Kit rules.

    Returns the parsed arguments; raises :class:`ContractViolation` with a readable reason.
    """
    request = _slack_mock_request(method_name, http_method, headers, body_bytes, query_string)
    try:
        slack_spec().validate_request(request)
    except Exception as e:
        raise ContractViolation(f"{method_name}: {describe_openapi_error(e)}") from e
    try:
        args = parse_slack_args(http_method, headers, body_bytes, query_string)
    except ContractViolation as e:
        raise ContractViolation(f"{method_name}: {e.reason}") from e
    check_block_kit(method_name, args)
    return args


# --------------------------------------------------------------------------- Slack responses

# Where the (2020) Slack spec's response schemas are wrong or stale, the copy of a response
# that gets validated is adjusted - never the response the client receives:
#  * error bodies: Slack answers errors with HTTP 200 + {"ok": false}, but the spec puts error
#    schemas under `default` (so openapi-core checks them against the *success* schema), and
#    their `error` enums are outdated (e.g. "rate_limited" where Slack says "ratelimited", no
#    "invalid_arguments"). Error bodies are therefore not validated.
#  * message objects: `objs_message` has additionalProperties:false but lacks `metadata`
#    (added to Slack in 2022), `edited` and `app_id`; and its `attachments` items allow only
#    fallback/id/image_* while real attachments carry color/text/fields/... Those are dropped.
#  * chat.update: the spec types `message.blocks` as an object; it is an array. Dropped.
#  * conversations.history: `messages` has minItems:1, yet an empty channel answers [];
#    and its schema lacks `response_metadata` (the pagination cursor Slack sends). Dropped.
_MESSAGE_FIELDS_MISSING_FROM_SPEC = ("metadata", "edited", "app_id", "attachments")


def _prune_message(message: Any) -> Any:
    if isinstance(message, dict):
        return {k: v for k, v in message.items() if k not in _MESSAGE_FIELDS_MISSING_FROM_SPEC}
    return message


def _slack_response_for_validation(method_name: str, body: dict[str, Any]) -> dict[str, Any] | None:
    if body.get("ok") is not True:
        return None
    pruned = copy.deepcopy(body)
    if "message" in pruned:
        pruned["message"] = _prune_message(pruned["message"])
        if method_name == "chat.update" and isinstance(pruned["message"], dict):
            pruned["message"].pop("blocks", None)
    if isinstance(pruned.get("messages"), list):
        if not pruned["messages"]:
            return None
        pruned["messages"] = [_prune_message(m) for m in pruned["messages"]]
        pruned.pop("response_metadata", None)
    return pruned


def validate_slack_response(method_name: str, http_method: str, status: int, body: dict[str, Any]) -> None:
    """Validate a success response of the fake against the Slack contract (see notes above)."""
    pruned = _slack_response_for_validation(method_name, body)
    if pruned is None or status != 200:
        return
    request = MockRequest(SLACK_SERVER, http_method.lower(), "/api/" + method_name)
    response = MockResponse(json.dumps(pruned).encode(), status_code=status)
    try:
        slack_spec().validate_response(request, response)
    except Exception as e:
        raise ContractViolation(f"{method_name} response: {describe_openapi_error(e)}") from e


# --------------------------------------------------------------------------- Block Kit

Surface = Literal["message", "modal", "home"]


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _contains_none(node: Any) -> bool:
    if node is None:
        return True
    if isinstance(node, dict):
        return any(_contains_none(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_none(v) for v in node)
    return False


def _check_limits(node: Any, where: str) -> Iterator[str]:
    for path, obj in _walk(node, where):
        for key in ("action_id", "block_id", "callback_id"):
            value = obj.get(key)
            if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
                yield f"{path}.{key} is {len(value)} characters (max {MAX_ID_LENGTH})"
        if obj.get("type") == "button":
            value = obj.get("value")
            if isinstance(value, str) and len(value) > MAX_BUTTON_VALUE:
                yield f"{path}.value of a button is {len(value)} characters (max {MAX_BUTTON_VALUE})"
        if obj.get("type") == "section":
            text = obj.get("text")
            if text is not None and not isinstance(text, dict):
                # slack_sdk quietly turns a bare string into mrkdwn; the API does not.
                yield f"{path}.text must be a text object, got {type(text).__name__}"
            elif isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
                yield (
                    f"{path}.text.text is {len(str(text.get('text', '')))} characters "
                    f"(max {MAX_SECTION_TEXT})"
                )
            fields = obj.get("fields")
            if isinstance(fields, list):
                if len(fields) > MAX_SECTION_FIELDS:
                    yield f"{path}.fields has {len(fields)} items (max {MAX_SECTION_FIELDS})"
                for i, field in enumerate(fields):
                    if isinstance(field, dict) and len(str(field.get("text", ""))) > MAX_SECTION_FIELD_TEXT:
                        yield f"{path}.fields[{i}].text exceeds {MAX_SECTION_FIELD_TEXT} characters"


def block_kit_problems(blocks: Any, *, surface: Surface = "message", where: str = "blocks") -> list[str]:
    """Everything wrong with a list of blocks (empty list when they are fine)."""
    from slack_sdk.models.blocks import Block

    if not isinstance(blocks, list):
        return [f"`{where}` must be an array of blocks, got {type(blocks).__name__}"]
    problems: list[str] = []
    limit = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
    if len(blocks) > limit:
        problems.append(f"`{where}` has {len(blocks)} blocks (max {limit} in a {surface})")
    for i, raw in enumerate(blocks):
        path = f"{where}[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            problems.append(f"{path} is not a block object with a `type`")
            continue
        # Slack's documented limits first (explicit messages); slack_sdk's own checks
        # are reported only when they found something the limits did not.
        own = list(_check_limits(raw, path))
        problems.extend(own)
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"{path} has an unknown block type {raw['type']!r}")
                continue
            block.validate_json()
            # to_dict() validates nested elements too; unknown element types come back as None
            if _contains_none(block.to_dict()):
                problems.append(f"{path} ({raw['type']}) contains an unknown element type")
        except Exception as e:  # SlackObjectFormationError and friends
            if not own:
                problems.append(f"{path} ({raw['type']}): {e}")
    return problems


def view_problems(view: Any) -> list[str]:
    """Everything wrong with a modal/home view payload."""
    from slack_sdk.models.views import View

    if not isinstance(view, dict):
        return [f"`view` must be an object, got {type(view).__name__}"]
    problems: list[str] = []
    view_type = view.get("type")
    if view_type not in ("modal", "home"):
        problems.append(f"view.type must be 'modal' or 'home', got {view_type!r}")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > MAX_PRIVATE_METADATA:
        problems.append(f"view.private_metadata is {len(metadata)} characters (max {MAX_PRIVATE_METADATA})")
    callback_id = view.get("callback_id")
    if isinstance(callback_id, str) and len(callback_id) > MAX_ID_LENGTH:
        problems.append(f"view.callback_id is {len(callback_id)} characters (max {MAX_ID_LENGTH})")
    surface: Surface = "home" if view_type == "home" else "modal"
    problems.extend(block_kit_problems(view.get("blocks", []), surface=surface, where="view.blocks"))
    if not problems:
        try:
            View(**view).validate_json()
        except Exception as e:
            problems.append(f"view: {e}")
    return problems


def _dedupe(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def check_block_kit(method_name: str, args: Mapping[str, Any]) -> None:
    """Raise :class:`ContractViolation` when a message's blocks or a view break Block Kit rules."""
    problems: list[str] = []
    if method_name in SLACK_MESSAGE_METHODS:
        text = args.get("text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            problems.append(f"text is {len(text)} characters (max {MAX_MESSAGE_TEXT})")
        if "blocks" in args and args["blocks"] not in (None, ""):
            problems.extend(block_kit_problems(args["blocks"], surface="message"))
        metadata = args.get("metadata")
        if metadata not in (None, "") and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            problems.append(
                "metadata must be an object with `event_type` (string) and `event_payload` (object)"
            )
    if method_name in SLACK_VIEW_METHODS and "view" in args:
        problems.extend(view_problems(args["view"]))
        view_type = args["view"].get("type") if isinstance(args["view"], dict) else None
        if method_name == "views.publish" and view_type != "home":
            problems.append(f"views.publish needs a view of type 'home', got {view_type!r}")
        if method_name in ("views.open", "views.push") and view_type != "modal":
            problems.append(f"{method_name} needs a view of type 'modal', got {view_type!r}")
    if problems:
        raise ContractViolation(f"{method_name}: " + "; ".join(_dedupe(problems)))


# --------------------------------------------------------------------------- Jira


def _jira_mock_request(
    http_method: str, path: str, headers: Mapping[str, str], body: bytes, query_string: str
) -> MockRequest:
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    content_type = _header(headers, "Content-Type") or "application/json"
    wire_headers = {"Content-Type": content_type}
    auth = _header(headers, "Authorization")
    if auth is not None:
        wire_headers["Authorization"] = auth
    return MockRequest(
        JIRA_SERVER,
        http_method.lower(),
        path,
        headers=wire_headers,
        args=query,
        data=body or None,
        content_type=content_type,
    )


def _tolerate_jira_quirks(path: str, body: bytes) -> bytes:
    """Known, documented differences between the `jira` package and the spec.

    The `jira` package (3.10.x) sends ``{"transition": {"id": 21}}`` - an integer - where the
    spec says the transition id is a string. Jira itself accepts both, so the id is turned
    into a string before validation (the request the fake handles is left untouched).
    """
    if not path.endswith("/transitions") or not body:
        return body
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    transition = payload.get("transition") if isinstance(payload, dict) else None
    if isinstance(transition, dict) and isinstance(transition.get("id"), int):
        transition["id"] = str(transition["id"])
        return json.dumps(payload).encode()
    return body


@contextlib.contextmanager
def _quiet_openapi_core() -> Iterator[None]:
    # The Jira spec offers OAuth2 as an alternative security scheme; openapi-core cannot check
    # OAuth2 and warns "Unsupported scheme type" on every request. Basic auth is what the bot
    # uses (and what the fake enforces), so the warning is noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unsupported scheme type", category=UserWarning)
        yield


def validate_jira_request(
    http_method: str,
    path: str,
    headers: Mapping[str, str],
    body_bytes: bytes,
    query_string: str = "",
) -> None:
    """Validate one Jira REST call (path like ``/rest/api/2/issue``) against the contract."""
    body = _tolerate_jira_quirks(path, body_bytes)
    request = _jira_mock_request(http_method, path, headers, body, query_string)
    try:
        with _quiet_openapi_core():
            jira_spec().validate_request(request)
    except Exception as e:
        raise ContractViolation(f"{http_method.upper()} {path}: {describe_openapi_error(e)}") from e


# Jira writes timestamps as "2024-01-01T12:00:00.000+0000"; the spec declares them
# `format: date-time` (RFC 3339, which wants "+00:00"), and openapi-core checks formats.
# The fake answers the way Jira does, and the copy that gets validated gets the colon.
_JIRA_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2})(\d{2})$")


def _rfc3339_timestamps(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _rfc3339_timestamps(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rfc3339_timestamps(v) for v in node]
    if isinstance(node, str):
        return _JIRA_OFFSET.sub(r"\1:\2", node)
    return node


def validate_jira_response(
    http_method: str, path: str, status: int, body: Any, query_string: str = ""
) -> None:
    """Validate a response of the fake against the Jira contract.

    Spec gaps handled here: responses without a body (204) are not checked (the spec declares
    an empty JSON schema for them); ``GET .../remotelink`` answers a *list* of links while the
    spec describes a single link (its `globalId` form), so each link is checked on its own.
    """
    if body is None:
        return
    if http_method.upper() == "GET" and path.endswith("/remotelink") and isinstance(body, list):
        for link in body:
            validate_jira_response(http_method, path, status, link, "globalId=x")
        return
    request = _jira_mock_request(http_method, path, {}, b"", query_string)
    response = MockResponse(json.dumps(_rfc3339_timestamps(body)).encode(), status_code=status)
    try:
        with _quiet_openapi_core():
            jira_spec().validate_response(request, response)
    except Exception as e:
        raise ContractViolation(
            f"{http_method.upper()} {path} -> {status}: {describe_openapi_error(e)}"
        ) from e


# --------------------------------------------------------------------------- Intercom


def _intercom_mock_request(
    http_method: str, path: str, headers: Mapping[str, str], body: bytes, query_string: str
) -> MockRequest:
    wire_headers = {
        name: value
        for name in ("Authorization", "Intercom-Version", "Content-Type")
        if (value := _header(headers, name)) is not None
    }
    content_type = _header(headers, "Content-Type") or "application/json"
    return MockRequest(
        INTERCOM_SERVER,
        http_method.lower(),
        path,
        headers=wire_headers,
        args=dict(parse_qsl(query_string, keep_blank_values=True)),
        data=body or None,
        content_type=content_type,
    )


def validate_intercom_request(
    http_method: str, path: str, headers: Mapping[str, str], body_bytes: bytes, query_string: str = ""
) -> None:
    """Validate one Intercom REST call (path like ``/conversations/123/reply``) against the contract.

    Intercom documents an ``Intercom-Version`` header and a bearer token on every call; the spec marks
    the header optional, so its presence is checked here as Intercom asks integrations to send it."""
    if _header(headers, "Intercom-Version") is None:
        raise ContractViolation(f"{http_method.upper()} {path}: no Intercom-Version header")
    request = _intercom_mock_request(http_method, path, headers, body_bytes, query_string)
    try:
        intercom_spec().validate_request(request)
    except Exception as e:
        raise ContractViolation(f"{http_method.upper()} {path}: {describe_openapi_error(e)}") from e


def validate_intercom_response(http_method: str, path: str, status: int, body: Any) -> None:
    """Validate an answer of the fake against the Intercom contract."""
    request = _intercom_mock_request(http_method, path, {}, b"", "")
    response = MockResponse(json.dumps(body).encode(), status_code=status)
    try:
        intercom_spec().validate_response(request, response)
    except Exception as e:
        raise ContractViolation(
            f"{http_method.upper()} {path} -> {status}: {describe_openapi_error(e)}"
        ) from e
