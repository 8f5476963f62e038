"""Compatibility tests: the unmodified Azure SDKs for Python against a real `cmk server --dev`.

Run them with

    source scripts/lib/python.sh && ensure_compat_venv
    "$COMPAT_PYTHON" -m pytest tests/compat

One server serves the whole session (fixture ``cmk``). It is started as

    $CMK_BIN server --dev --data-dir <fresh temp dir> --listen 127.0.0.1:0

(``CMK_BIN`` defaults to ``<repo>/target/debug/cmk``, so run ``cargo build`` first).
The fixture waits for the stdout line ``cmk: ready at https://localhost:<port>``,
then reads ``<data dir>/dev-credentials.json`` (tenant, subscription, client id and
secret, authority, management endpoint and scope, and the CA file that signed the
server certificate).

Every SDK client is given ``connection_verify=<ca_file>``. In addition, while the
server runs, REQUESTS_CA_BUNDLE, SSL_CERT_FILE and CURL_CA_BUNDLE point at that CA
inside this process, so nothing falls back to the machine's system bundle.

Environment variables:

* ``CMK_BIN`` - the cmk binary to start.
* ``CMK_READY_TIMEOUT`` - seconds to wait for the ready line (default 60).
* ``CMK_COMPAT_KEEP_DATA=1`` - keep the server's data directory after the run
  (it is always kept when a test failed; its path is printed).

When a test fails, the tail of the server's stderr is attached to its report; at
the end of the run it is printed again if anything failed or the server died.
"""

from __future__ import annotations

import collections
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "cmk: ready at "
READY_TIMEOUT = float(os.environ.get("CMK_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 5.0
STDERR_TAIL_LINES = 60

# Applied to every SDK client the helpers build: fail fast instead of the SDK
# defaults (10 retries with exponential back-off, 300 s read timeout), so a
# misbehaving server shows up as an error rather than a hang.
CLIENT_DEFAULTS: dict[str, Any] = {
    "connection_timeout": 10,
    "read_timeout": 60,
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
}

# Variables that change azure-identity's behaviour behind the tests' back.
_AZURE_ENV_TO_CLEAR = (
    "AZURE_AUTHORITY_HOST",
    "AZURE_REGIONAL_AUTHORITY_NAME",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
    "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH",
)

_ENV_WE_CHANGE = (
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_DIR",
    "NO_PROXY",
    "no_proxy",
    *_AZURE_ENV_TO_CLEAR,
)

CREDENTIAL_KEYS = (
    "tenant_id",
    "subscription_id",
    "resource_group",
    "client_id",
    "client_secret",
    "authority",
    "management_endpoint",
    "management_scope",
    "vault_dns_suffix",
    "ca_file",
)


class ServerProcess:
    """A running `cmk server --dev`; stdout is read by a thread, stderr goes to a file."""

    def __init__(self, binary: Path, data_dir: Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.stderr_path = data_dir.parent / "server.stderr.log"
        self.stdout_lines: collections.deque[str] = collections.deque(maxlen=200)
        self.ready_url: Optional[str] = None
        self._ready = threading.Event()
        self._stderr_file = open(self.stderr_path, "wb")
        self.command = [
            str(binary),
            "server",
            "--dev",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
        ]
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            cwd=str(data_dir.parent),
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_stdout, name="cmk-stdout", daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.stdout_lines.append(line)
            if self.ready_url is None and line.startswith(READY_PREFIX):
                self.ready_url = line[len(READY_PREFIX):].strip()
                self._ready.set()
        self._ready.set()  # EOF: wake the waiter, it checks ready_url

    def wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            if self.ready_url is not None:
                return self.ready_url
            if self.proc.poll() is not None:
                # Give the reader a moment to drain what was printed before exit.
                self._reader.join(timeout=1)
                if self.ready_url is not None:
                    return self.ready_url
                raise RuntimeError(
                    f"cmk server exited with code {self.proc.returncode} before it was ready\n"
                    + self.describe()
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"cmk server printed no '{READY_PREFIX}...' line within {timeout:.0f} s\n"
                    + self.describe()
                )
            self._ready.wait(min(remaining, 0.2))

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError as exc:
            return f"(cannot read server stderr: {exc})"
        text = data.decode("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])

    def describe(self) -> str:
        parts = [f"command: {' '.join(self.command)}"]
        if self.stdout_lines:
            parts.append("stdout (tail):\n" + "\n".join(list(self.stdout_lines)[-20:]))
        parts.append("stderr (tail):\n" + (self.stderr_tail() or "(empty)"))
        return "\n".join(parts)

    def stop(self) -> Optional[int]:
        """SIGTERM the server's process group, SIGKILL it after STOP_TIMEOUT seconds."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._reader.join(timeout=2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr_file.close()
        return self.proc.returncode

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


# Ids of Azure's built-in roles the tests assign.
ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
}


@dataclass
class CmkDev:
    """What a test needs to talk to the dev server with the Azure SDKs."""

    server: ServerProcess
    url: str
    credentials: dict[str, Any]
    tenant_id: str
    subscription_id: str
    resource_group: str
    client_id: str
    client_secret: str
    authority: str
    management_endpoint: str
    management_scope: str
    vault_dns_suffix: str
    ca_file: str
    _closeables: list[Any] = field(default_factory=list, repr=False)

    @property
    def management_resource(self) -> str:
        """The resource (token audience) behind management_scope: the scope without '/.default'."""
        scope = self.management_scope
        return scope[: -len(".default")] if scope.endswith("/.default") else scope

    def client_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"connection_verify": self.ca_file, **CLIENT_DEFAULTS}
        kwargs.update(overrides)
        return kwargs

    def credential(
        self,
        *,
        tenant_id: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        **kwargs: Any,
    ):
        """A ClientSecretCredential for the dev service principal (any part overridable)."""
        from azure.identity import ClientSecretCredential

        cred = ClientSecretCredential(
            tenant_id or self.tenant_id,
            client_id or self.client_id,
            client_secret if client_secret is not None else self.client_secret,
            authority=self.authority,
            disable_instance_discovery=True,
            **self.client_kwargs(**kwargs),
        )
        self._closeables.append(cred)
        return cred

    def management_client(self, cls: Callable[..., Any], *, credential: Any = None, **kwargs: Any):
        """An ARM client of class ``cls`` pointed at the dev management endpoint.

        ``subscription_id`` is passed (the dev subscription unless given) when ``cls`` takes one.
        """
        params = inspect.signature(cls).parameters
        if "subscription_id" in params:
            kwargs.setdefault("subscription_id", self.subscription_id)
        client = cls(
            credential=credential or self.credential(),
            base_url=self.management_endpoint,
            credential_scopes=[self.management_scope],
            **self.client_kwargs(**kwargs),
        )
        self._closeables.append(client)
        return client

    def authorization(self, *, credential: Any = None):
        """An AuthorizationManagementClient (role definitions and assignments) on the dev subscription."""
        from azure.mgmt.authorization import AuthorizationManagementClient

        return self.management_client(AuthorizationManagementClient, credential=credential)

    def assign_role(self, scope: str, role: str, principal_id: str, *, credential: Any = None):
        """Assigns a role (a ROLES name) to a principal at ``scope``, as the operator unless ``credential``
        says otherwise; returns the new assignment."""
        from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

        subscription = scope.split("/")[2]
        parameters = RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}",
            principal_id=principal_id,
            # azure-mgmt-authorization 4.0.0 sends "User" unless told; every principal here is a service principal.
            principal_type="ServicePrincipal",
        )
        return self.authorization(credential=credential).role_assignments.create(scope, str(uuid.uuid4()), parameters)

    def close_clients(self) -> None:
        while self._closeables:
            obj = self._closeables.pop()
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass


def admin_post(cmk: CmkDev, path: str, body: dict) -> dict:
    """POST to the operators' admin API with the dev principal's management token; it must answer 201."""
    import requests

    token = cmk.credential().get_token(cmk.management_scope).token
    response = requests.post(
        cmk.authority.rstrip("/") + "/cmk/admin" + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=cmk.ca_file,
        timeout=10,
    )
    assert response.status_code == 201, f"POST /cmk/admin{path}: {response.status_code} {response.text}"
    return response.json()


# The running server, for the reporting hooks below.
_SERVER: Optional[ServerProcess] = None
_SESSION_NOTES: list[str] = []


def _cmk_binary() -> Path:
    return Path(os.environ.get("CMK_BIN") or REPO_ROOT / "target" / "debug" / "cmk")


def _load_credentials(path: Path) -> dict[str, Any]:
    try:
        creds = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read {path}: {exc}") from exc
    missing = [k for k in CREDENTIAL_KEYS if not creds.get(k)]
    if missing:
        raise RuntimeError(f"{path.name} lacks keys: {', '.join(missing)}")
    return creds


def _port(url: str) -> Optional[int]:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else None)


def _connect(server: ServerProcess, data_dir: Path) -> CmkDev:
    """Wait for the ready line and build a CmkDev from dev-credentials.json."""
    url = server.wait_ready(READY_TIMEOUT)
    creds_path = data_dir / "dev-credentials.json"
    if not creds_path.is_file():
        raise RuntimeError(f"server is ready but wrote no {creds_path.name}\n" + server.describe())
    creds = _load_credentials(creds_path)
    if not Path(creds["ca_file"]).is_file():
        raise RuntimeError(f"ca_file from {creds_path.name} does not exist: {creds['ca_file']}")
    for key in ("authority", "management_endpoint"):
        if _port(creds[key]) != _port(url):
            raise RuntimeError(f"{key} {creds[key]!r} is not on the port of the ready line {url!r}")
    return CmkDev(server=server, url=url, credentials=creds, **{k: creds[k] for k in CREDENTIAL_KEYS})


@pytest.fixture(scope="session")
def cmk(request: pytest.FixtureRequest):
    """Start `cmk server --dev` once per session and yield a CmkDev for it."""
    global _SERVER

    binary = _cmk_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"cmk binary not found or not executable: {binary} (run `cargo build` or set CMK_BIN)")

    workdir = Path(tempfile.mkdtemp(prefix="cmk-compat-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    try:
        server = ServerProcess(binary, data_dir)
    except OSError as exc:
        pytest.fail(f"cannot start {binary}: {exc}", pytrace=False)
    _SERVER = server

    saved_env = {k: os.environ.get(k) for k in _ENV_WE_CHANGE}
    startup_error: Optional[str] = None
    try:
        dev = _connect(server, data_dir)
    except RuntimeError as exc:
        startup_error = str(exc)
    except BaseException:
        server.stop()
        raise
    if startup_error is not None:
        server.stop()
        _SESSION_NOTES.append(f"cmk server data kept in {workdir}")
        pytest.fail(startup_error, pytrace=False)

    # Trust only the dev CA inside this process; no proxies for the loopback server.
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        os.environ[name] = dev.ca_file
    os.environ.pop("SSL_CERT_DIR", None)
    for name in ("NO_PROXY", "no_proxy"):
        extra = os.environ.get(name, "")
        os.environ[name] = ",".join(p for p in ("localhost", "127.0.0.1", extra) if p)
    for name in _AZURE_ENV_TO_CLEAR:
        os.environ.pop(name, None)

    try:
        yield dev
    finally:
        dev.close_clients()
        died_early = not server.running()
        code = server.stop()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        failed = request.session.testsfailed > 0
        if died_early:
            _SESSION_NOTES.append(f"cmk server exited during the tests with code {code}")
        if died_early or failed:
            _SESSION_NOTES.append("cmk server stderr (tail):\n" + (server.stderr_tail() or "(empty)"))
        if died_early or failed or os.environ.get("CMK_COMPAT_KEEP_DATA") == "1":
            _SESSION_NOTES.append(f"cmk server data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _cmk_still_running(request: pytest.FixtureRequest):
    """Fail fast, with the exit code, once the session's server has died."""
    if "cmk" in request.fixturenames:
        request.getfixturevalue("cmk")
        if _SERVER is not None and not _SERVER.running():
            pytest.fail(f"cmk server is no longer running (exit code {_SERVER.proc.returncode})", pytrace=False)


@pytest.fixture(scope="session")
def localhost_subdomains():
    """Resolve every ``*.localhost`` name (vault hosts such as ``kv1.vault.localhost``) to 127.0.0.1.

    The dev server serves vaults at ``https://{vault}.vault.localhost:{port}``, but glibc here does not
    resolve subdomains of ``localhost``. For the rest of the session ``socket.getaddrinfo`` in this
    process answers for those names as for ``127.0.0.1``; every other name (``localhost`` itself
    included) is resolved as before. Only the address lookup changes: TLS still checks the server
    certificate against the original host name, and the Host header still names it.
    """
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if isinstance(name, str) and name.rstrip(".").lower().endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        if socket.getaddrinfo is getaddrinfo:
            socket.getaddrinfo = original


_RG_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@pytest.fixture
def rg_name(request: pytest.FixtureRequest) -> str:
    """A resource-group name unique to this test (and this run)."""
    base = _RG_NAME_UNSAFE.sub("-", request.node.name).strip("-.")[:40]
    return f"compat-{base}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and _SERVER is not None and "cmk" in getattr(item, "fixturenames", ()):
        state = "running" if _SERVER.running() else f"exited with code {_SERVER.proc.returncode}"
        report.sections.append(
            (f"cmk server stderr (tail, server {state})", _SERVER.stderr_tail(30) or "(empty)")
        )
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _SESSION_NOTES:
        return
    terminalreporter.write_sep("=", "cmk server")
    for note in _SESSION_NOTES:
        terminalreporter.write_line(note)
