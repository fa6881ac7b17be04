"""The Slack app manifest, for either way Slack reaches the bot: request URLs (HTTP) or Socket Mode.

`bot/manifest.yml` is the HTTP manifest with a placeholder address; `supportbridge manifest` prints it
with the real address (`--url`), or as the Socket Mode variant (`--socket-mode`):
`settings.socket_mode_enabled: true` and no request URLs at all, since Slack then sends everything over
the app's own outbound WebSocket.
"""

from __future__ import annotations

import copy
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import urlsplit

import yaml

# Package data (pyproject.toml), read through importlib.resources: an installed wheel (the container
# image) has no source tree around it.
MANIFEST_PATH: Traversable = resources.files("bot").joinpath("manifest.yml")
PLACEHOLDER = "https://supportbridge.example.com"
EVENTS_PATH = "/slack/events"


class ManifestError(ValueError):
    """The address given cannot be a Slack request URL."""


def load(path: Traversable = MANIFEST_PATH) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ManifestError(f"{path} is not a YAML mapping")
    return loaded


def base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestError(f"--url must be an https:// address Slack can reach, not {url!r}")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def socket_mode(manifest: dict[str, Any]) -> dict[str, Any]:
    """The same app without request URLs, with Socket Mode on."""
    out = copy.deepcopy(manifest)
    for command in out.get("features", {}).get("slash_commands", []):
        command.pop("url", None)
    settings = out.setdefault("settings", {})
    settings.get("event_subscriptions", {}).pop("request_url", None)
    interactivity = settings.get("interactivity", {})
    interactivity.pop("request_url", None)
    interactivity.pop("message_menu_options_url", None)
    settings["socket_mode_enabled"] = True
    return out


def with_url(manifest: dict[str, Any], url: str) -> dict[str, Any]:
    """The HTTP manifest with every request URL at `url`'s /slack/events."""
    events = base_url(url) + EVENTS_PATH
    out = copy.deepcopy(manifest)
    for command in out.get("features", {}).get("slash_commands", []):
        command["url"] = events
    settings = out.setdefault("settings", {})
    settings.setdefault("event_subscriptions", {})["request_url"] = events
    interactivity = settings.setdefault("interactivity", {})
    interactivity["request_url"] = events
    interactivity["message_menu_options_url"] = events
    settings["socket_mode_enabled"] = False
    return out


def render(*, socket: bool, url: str | None, path: Traversable = MANIFEST_PATH) -> str:
    manifest = load(path)
    if socket:
        manifest = socket_mode(manifest)
    elif url:
        manifest = with_url(manifest, url)
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
