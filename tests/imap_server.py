"""A real IMAP server for tests: Debian's Dovecot 2.3, started privately on a loopback port.

`DovecotServer(base_dir).start()` writes a minimal `dovecot.conf` into `base_dir` (no system config is
read, the system dovecot service is never touched), runs `dovecot -F -c <conf>` as a child process in its
own process group and waits until the port answers the IMAP greeting. One user (`support` /
`secret-pass` by default) with a Maildir under `base_dir/mail/<user>`.

Layout of base_dir:
    dovecot.conf    the generated configuration
    users           passwd-file with the user's {PLAIN} password
    dovecot.log     everything Dovecot logs (log_path and info_log_path)
    dovecot.stderr  the master's own stderr (fatal config errors before logging is set up)
    state/          its state_dir (sockets and master.pid: a short /tmp/sbdv-* of their own)
    mail/<user>/    the Maildir++ mailbox: INBOX at the top, folder "X" in ".X"

Running as root (how the test machine runs): Dovecot refuses uid 0 for mail processes outright
("userdb returned 0 as uid" / "Mail access not allowed for root", whatever first_valid_uid says). So
the mail process runs as `nobody` and is chrooted into base_dir/mail (the chroot is entered while still
root, so the 0700 pytest tmp directories above it do not need to be traversable by `nobody`); the
Maildir is chowned to that user, and `deliver()` chowns the files it writes. Dovecot's own helper
processes (auth, log, ...) run as root so they can read the passwd-file in the 0700 tmp dir. Login
processes run as `dovenull` (created by the dovecot-core package) or `nobody`.

Not root: `dovecot_available()` says so and the tests skip (running Dovecot unprivileged needs a
different set of chroot/user settings that is not worth carrying here).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT = 10.0

_counter = 0


def dovecot_available() -> str | None:
    """None if a private Dovecot can be started here, else the reason (for pytest.skip)."""
    if not os.path.exists(DOVECOT):
        return f"{DOVECOT} not found (apt-get install dovecot-imapd)"
    if not os.access(DOVECOT, os.X_OK):
        return f"{DOVECOT} is not executable"
    if not os.path.exists("/usr/lib/dovecot/imap"):
        return "Dovecot's IMAP server is missing (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the private Dovecot test server needs root (mail processes are chrooted as `nobody`)"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "no `nobody` user to run Dovecot's mail processes as"
    return None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (tiny race until Dovecot binds it; fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _login_user() -> str:
    for name in ("dovenull", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return "nobody"


class DovecotServer:
    host = "127.0.0.1"

    def __init__(
        self,
        base_dir: Path,
        *,
        user: str = "support",
        password: str = "secret-pass",
        port: int = 0,
        tls: bool = False,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.tls = tls
        self.conf_path = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "dovecot.log"
        self.stderr_path = self.base_dir / "dovecot.stderr"
        # Sockets live under a short path of their own: a Unix socket path holds at most 107 bytes, and
        # pytest's tmp paths (longer under pytest-xdist, "popen-gw0/") plus Dovecot's own can exceed it.
        self.run_dir = Path(tempfile.mkdtemp(prefix="sbdv-"))
        self.mail_root = self.base_dir / "mail"
        self.maildir = self.mail_root / user
        self.cert_path = self.base_dir / "cert.pem"
        self.key_path = self.base_dir / "key.pem"
        mail_pw = pwd.getpwnam("nobody")
        self._mail_uid, self._mail_gid = mail_pw.pw_uid, mail_pw.pw_gid
        self._proc: subprocess.Popen[bytes] | None = None
        #: seconds the last start() took until the greeting arrived
        self.last_start_seconds: float | None = None
        # Unique greeting: start() only accepts an answer from *this* instance (not from another
        # server that already holds the port).
        self._greeting = f"Supportbridge test Dovecot {secrets.token_hex(4)} ready."

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        began = time.monotonic()
        self._prepare_files()
        stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # own process group: stop() signals master and children
                cwd=self.base_dir,
            )
        finally:
            stderr.close()
        try:
            self._wait_ready(began + START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # SIGTERM to the whole process group: every process handles it at once (an IDLE session sends
        # "* BYE Server shutting down." and closes). Signalling only the master is slower, and even so
        # the master sometimes naps ~1 s before reaping its already dead children, so give it 0.3 s
        # and then SIGKILL whatever is left.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=0.3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        # Make sure no child outlives the master holding the listening socket or the Maildir (zombies
        # waiting for init to reap them hold nothing), so restart() can bind the same port again.
        deadline = time.monotonic() + 2
        while _live_group_members(proc.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.01)
        shutil.rmtree(self.run_dir, ignore_errors=True)  # start() makes it again

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.log_path, self.stderr_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(dovecot wrote no log)"

    def _wait_ready(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with status {self._proc.returncode} during start-up\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if self.tls:
                        import ssl

                        ctx = ssl._create_unverified_context()
                        with ctx.wrap_socket(sock, server_hostname="localhost") as tls_sock:
                            greeting = tls_sock.recv(512)
                    else:
                        greeting = sock.recv(512)
                if greeting.startswith(b"* OK") and self._greeting.encode() in greeting:
                    return
                last_error = RuntimeError(f"unexpected greeting {greeting!r}")
            except OSError as exc:
                last_error = exc
            time.sleep(0.02)
        raise RuntimeError(
            f"dovecot did not answer on {self.host}:{self.port} within {START_TIMEOUT:.0f} s "
            f"(last error: {last_error!r})\n{self.log_tail()}"
        )

    # ------------------------------------------------------------------ configuration

    def _prepare_files(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "state").mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        # The chroot (mail_root) must belong to root; the mailbox inside it to the mail user.
        self.mail_root.mkdir(exist_ok=True)
        os.chmod(self.mail_root, 0o755)
        self._make_maildir(self.maildir)
        users = self.base_dir / "users"
        users.write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        os.chmod(users, 0o600)
        if self.tls and not self.cert_path.exists():
            self._make_cert()
        self.conf_path.write_text(self._config())

    def _make_cert(self) -> None:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(self.key_path), "-out", str(self.cert_path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def _config(self) -> str:
        b = self.base_dir
        if self.tls:
            ssl_lines = f"""\
# TLS only: the plain listener is off, the imaps listener below carries the throwaway cert.
ssl = required
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}"""
            imap_port, imaps_port = 0, self.port
        else:
            ssl_lines = "# Plain IMAP only, no certificates needed.\nssl = no"
            imap_port, imaps_port = self.port, 0
        return f"""\
# Generated by tests/imap_server.py - a private throwaway Dovecot {_dovecot_version()}.
# Nothing from /etc/dovecot is included.

protocols = imap
# start() recognises its own instance by this greeting.
login_greeting = {self._greeting}
# Loopback only.
listen = 127.0.0.1
# Private sockets/pid file and state, so this never collides with the system instance or another test.
base_dir = {self.run_dir}
state_dir = {b}/state
instance_name = supportbridge-test-{self.port}
# All logging into one file; start() shows its tail when something goes wrong.
log_path = {self.log_path}
info_log_path = {self.log_path}

{ssl_lines}
# Allow LOGIN / AUTHENTICATE PLAIN without TLS (Dovecot 2.3 name; 2.4 calls it auth_allow_cleartext).
disable_plaintext_auth = no
auth_mechanisms = plain login

# Helper processes (auth, log, anvil, ...) stay root: they must read files in the 0700 tmp dir.
default_internal_user = root
default_internal_group = root
# Login processes drop to an unprivileged user (chrooted into run/login by default).
default_login_user = {_login_user()}
# Mail processes run as `nobody` (Dovecot refuses uid 0 for mail no matter what) ...
first_valid_uid = 1
# ... chrooted into mail/ (entered as root, so the 0700 tmp dirs above it are no obstacle).
valid_chroot_dirs = {self.mail_root}
# Maildir++ in the home directory (inside the chroot: /<user>).
mail_location = maildir:~

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {b}/users
}}
userdb {{
  # "<chroot>/./<home>" makes Dovecot chroot into <chroot>, home is /<user> inside it.
  driver = static
  args = uid={self._mail_uid} gid={self._mail_gid} home={self.mail_root}/./%u
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}

# IDLE needs no configuration: Dovecot watches the Maildir with inotify and pushes EXISTS at once.
# imap_idle_notify_interval (default 2 min) is only the "* OK Still here" keepalive.
"""

    # ------------------------------------------------------------------ mailbox access

    def _folder_dir(self, folder: str) -> Path:
        if folder.upper() == "INBOX":
            return self.maildir
        # Maildir++: folder "A/B" (or "A.B") lives in ".A.B"; the IMAP hierarchy separator is ".".
        return self.maildir / ("." + folder.replace("/", "."))

    def _make_maildir(self, path: Path, *, folder: bool = False) -> None:
        for sub in ("", "cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
            os.chown(path / sub, self._mail_uid, self._mail_gid)
        if folder:
            marker = path / "maildirfolder"
            marker.touch()
            os.chown(marker, self._mail_uid, self._mail_gid)

    def create_folder(self, name: str) -> None:
        """Create a mail folder (IMAP CREATE when the server runs, else directly in the Maildir)."""
        if self.running:
            with self._imap() as conn:
                typ, data = conn.create(_quote(name))
                if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d or b"" for d in data):
                    raise RuntimeError(f"CREATE {name} failed: {typ} {data}")
        else:
            self._make_maildir(self._folder_dir(name), folder=True)

    def deliver(self, raw: bytes, *, folder: str = "INBOX", seen: bool = False) -> None:
        """Drop a message into the Maildir, the way an MDA does (write to tmp/, rename into new/ or
        cur/). Synchronous, works with the server running or stopped; a running Dovecot picks it up on
        the next command and pushes EXISTS to IDLE sessions (inotify). Use CRLF line endings if you
        compare bytes: Dovecot serves bare-LF files with CRLF."""
        global _counter
        target = self._folder_dir(folder)
        if not (target / "cur").is_dir():
            if folder.upper() == "INBOX":
                self._make_maildir(target)
            else:
                self.create_folder(folder)
        _counter += 1
        now = time.time()
        unique = f"{int(now)}.M{int(now * 1e6) % 1_000_000}P{os.getpid()}Q{_counter}.supportbridge-test"
        tmp = target / "tmp" / unique
        tmp.write_bytes(raw)
        os.chown(tmp, self._mail_uid, self._mail_gid)
        os.chmod(tmp, 0o600)
        if seen:
            os.rename(tmp, target / "cur" / f"{unique}:2,S")
        else:
            os.rename(tmp, target / "new" / unique)

    def messages(self, folder: str = "INBOX") -> list[tuple[bytes, set[str]]]:
        """(raw bytes, flags) of every message in `folder`, in UID order, read over IMAP (EXAMINE, so
        nothing is changed). \\Recent is left out of the flags."""
        with self._imap() as conn:
            typ, data = conn.select(_quote(folder), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"EXAMINE {folder} failed: {data}")
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            flags: dict[int, set[str]] = {}
            for item in data:
                if not isinstance(item, bytes):
                    continue
                m = re.search(rb"UID (\d+)", item)
                f = re.search(rb"FLAGS \(([^)]*)\)", item)
                if m and f:
                    flags[int(m.group(1))] = {x.decode() for x in f.group(1).split()} - {"\\Recent"}
            if not flags:
                return []
            typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
            bodies: dict[int, bytes] = {}
            for item in data:
                if isinstance(item, tuple):
                    m = re.search(rb"UID (\d+)", item[0])
                    if m:
                        bodies[int(m.group(1))] = item[1]
            return [(bodies[uid], flags[uid]) for uid in sorted(flags)]

    @contextlib.contextmanager
    def _imap(self) -> Iterator[imaplib.IMAP4]:
        if not self.running:
            raise RuntimeError("the Dovecot test server is not running")
        if self.tls:
            import ssl

            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=ssl._create_unverified_context(), timeout=10
            )
        else:
            conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()


def _live_group_members(pgid: int) -> list[int]:
    """PIDs in process group `pgid` that are not zombies (Linux /proc)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." - comm may contain spaces, so split after the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry))
    return live


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_version: str | None = None


def _dovecot_version() -> str:
    global _version
    if _version is None:
        try:
            out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, timeout=5)
            _version = out.stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            _version = "?"
    return _version


__all__ = ["DovecotServer", "dovecot_available", "free_port"]
