"""The Key Vault keys data plane, driven by the unmodified azure-keyvault-keys as a user would:
the challenge handshake, create and import, versions, listing, updates, soft delete, recover
and purge, cryptography through CryptographyClient, and the refusals a user runs into.

Every test makes its own vault through ARM (azure-mgmt-keyvault model classes, as in
test_keyvault_mgmt.py), with an access policy for the dev principal, and talks to it at its
``vault_uri`` (``https://{vault}.vault.localhost:{port}``). Those names are resolved to the
loopback address inside this process by the ``localhost_subdomains`` fixture (conftest.py).

KeyClient keeps the default ``verify_challenge_resource=True``: the vault host must lie under
the challenge's resource host. The SDK's challenge cache is per process and keyed by host, so
each vault (a new host) starts with a challenge.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import (
    AccessPolicyEntry,
    Permissions,
    Sku,
    VaultAccessPolicyParameters,
    VaultAccessPolicyProperties,
    VaultCreateOrUpdateParameters,
    VaultProperties,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from conftest import admin_post

LOCATION = "westus2"
RETENTION_DAYS = 7
# Every key permission an access policy can grant, spelled as ARM spells them.
ALL_KEY_PERMISSIONS = [
    "encrypt",
    "decrypt",
    "wrapKey",
    "unwrapKey",
    "sign",
    "verify",
    "get",
    "list",
    "create",
    "update",
    "import",
    "delete",
    "backup",
    "restore",
    "recover",
    "purge",
    "release",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
]
CRYPTO_ONLY_PERMISSIONS = ["wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"]
RSA_KEY_OPS = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
# The vault answers delete and recover at once, so their pollers finish on the first poll;
# the SDK sleeps 2 s between polls that find nothing.
POLL_TIME_LIMIT_S = 5.0
VERSION = re.compile(r"[0-9a-f]{32}")


# --- helpers -------------------------------------------------------------------------------


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, decoded without verifying the signature."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def new_vault_name(tag: str) -> str:
    """A vault name unique to this run: a letter first, 3-24 letters, digits and hyphens."""
    return f"{tag[:10]}-{uuid.uuid4().hex[:12]}"


def new_key_name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def public_key_of(key: KeyVaultKey) -> rsa.RSAPublicKey:
    """The RSA public key of a KeyVaultKey, rebuilt locally with `cryptography`."""
    jwk = key.key
    return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()


def plain(value: Any) -> Any:
    """An SDK str enum as its plain string."""
    return getattr(value, "value", value)


def digest_of(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tampered(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 0x01]) + digest[1:]


def assert_kv_error(exc: HttpResponseError, status: int, code: str) -> None:
    assert exc.status_code == status, f"expected {status} {code}, got {exc.status_code}: {exc}"
    assert exc.error is not None, f"no Key Vault error body: {exc}"
    assert exc.error.code == code, f"expected code {code!r}, got {exc.error.code!r}: {exc.error.message}"


def assert_forbidden_naming(exc: HttpResponseError, permission: str) -> None:
    """403 Forbidden whose message says which key permission is missing."""
    assert_kv_error(exc, 403, "Forbidden")
    message = exc.error.message or ""
    assert "permission" in message.lower(), message
    assert re.search(rf"\b{re.escape(permission)}\b", message, re.IGNORECASE), (
        f"message does not name the {permission!r} permission: {message}"
    )


def timed_wait(poller) -> float:
    """poller.wait(), which must finish (quickly); returns the seconds it took."""
    started = time.monotonic()
    poller.wait(timeout=30)
    elapsed = time.monotonic() - started
    assert poller.done(), "the poller did not finish within 30 s"
    assert elapsed < POLL_TIME_LIMIT_S, f"the poller took {elapsed:.1f} s; the vault should answer at once"
    return elapsed


@dataclass
class Exchange:
    """One HTTP exchange as the pipeline saw it (after the challenge policy)."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: Optional[str]
    body: Any
    status: int
    headers: dict[str, str]


class RequestLog:
    """A raw_response_hook recording every request a client sends and the status it gets.

    Given to a client at construction it sees each try, including the bodiless request the
    challenge policy sends first.
    """

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, pipeline_response: Any) -> None:
        request = pipeline_response.http_request
        response = pipeline_response.http_response
        parts = urlsplit(request.url)
        body: Any = None
        raw = request.content if hasattr(request, "content") else request.body
        if raw:
            try:
                body = json.loads(raw)
            except (TypeError, ValueError):
                body = raw
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=parts.path,
                query=parse_qs(parts.query),
                authorization=request.headers.get("Authorization"),
                body=body,
                status=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
            )
        )

    def calls(self) -> list[tuple[str, str, int]]:
        return [(e.method, e.path, e.status) for e in self.exchanges]

    def clear(self) -> None:
        self.exchanges.clear()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Scheme and parameters of a WWW-Authenticate header (`Bearer k="v", k2="v2"`)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)\s*=\s*"([^"]*)"', rest)}
    return scheme, params


def vault_resource(cmk) -> str:
    """The token audience of every vault: https://vault.{suffix}[:port]."""
    port = urlsplit(cmk.url).port
    host = cmk.vault_dns_suffix.lstrip(".")
    return f"https://{host}" if port in (None, 443) else f"https://{host}:{port}"


def new_principal(cmk, tenant_id: Optional[str] = None) -> dict:
    tenant = tenant_id or cmk.tenant_id
    answer = admin_post(
        cmk, f"/tenants/{tenant}/servicePrincipals", {"displayName": f"compat keys {uuid.uuid4().hex[:8]}"}
    )
    assert answer["clientId"] and answer["clientSecret"], answer
    return {"tenant_id": tenant, **answer}


# --- fixtures ------------------------------------------------------------------------------


@dataclass
class Vault:
    name: str
    url: str  # vault_uri without the trailing slash, as KeyClient keeps it


@pytest.fixture(scope="module")
def principal_oid(cmk) -> str:
    """The object id of the dev service principal, from the oid claim of its management token."""
    oid = jwt_claims(cmk.credential().get_token(cmk.management_scope).token).get("oid")
    assert oid, "the management token carries no oid claim"
    return oid


@pytest.fixture(scope="module")
def kv_mgmt(cmk) -> KeyVaultManagementClient:
    return cmk.management_client(KeyVaultManagementClient)


@pytest.fixture(scope="module")
def group(cmk) -> str:
    """One resource group for this module's vaults (each test makes its own vault)."""
    name = f"compat-keys-{uuid.uuid4().hex[:8]}"
    cmk.management_client(ResourceManagementClient).resource_groups.create_or_update(name, {"location": LOCATION})
    return name


def access_policy(tenant_id: str, object_id: str, keys: list[str]) -> AccessPolicyEntry:
    return AccessPolicyEntry(tenant_id=tenant_id, object_id=object_id, permissions=Permissions(keys_property=keys))


@pytest.fixture
def make_vault(cmk, kv_mgmt, group, principal_oid, localhost_subdomains):
    """Create a vault through ARM: soft delete with 7 days retention, the dev principal's access policy."""

    def make(tag: str = "keys", *, purge_protection: bool = True, keys: Optional[list[str]] = None) -> Vault:
        name = new_vault_name(tag)
        properties = VaultProperties(
            tenant_id=cmk.tenant_id,
            sku=Sku(family="A", name="standard"),
            access_policies=[access_policy(cmk.tenant_id, principal_oid, keys or ALL_KEY_PERMISSIONS)],
            # An access-policy vault: from API version 2026-02-01 a vault that does not say uses Azure RBAC.
            enable_rbac_authorization=False,
            enable_soft_delete=True,
            soft_delete_retention_in_days=RETENTION_DAYS,
            # Purge protection can only be switched on; leaving it out leaves it off.
            **({"enable_purge_protection": True} if purge_protection else {}),
        )
        vault = kv_mgmt.vaults.begin_create_or_update(
            group, name, VaultCreateOrUpdateParameters(location=LOCATION, properties=properties)
        ).result()
        uri = vault.properties.vault_uri
        port = urlsplit(cmk.url).port
        host = f"{name}{cmk.vault_dns_suffix}"
        expected = f"https://{host}/" if port in (None, 443) else f"https://{host}:{port}/"
        assert uri == expected, f"vault_uri {uri!r}, expected {expected!r}"
        return Vault(name=name, url=uri.rstrip("/"))

    return make


@pytest.fixture
def vault(make_vault) -> Vault:
    """The contract's standard vault: purge protection, 7 days retention, every key permission."""
    return make_vault()


class Clients:
    """Builds KeyClients and CryptographyClients the way a user would, and closes them afterwards."""

    def __init__(self, cmk) -> None:
        self.cmk = cmk
        self._open: list[Any] = []

    def _credential(self, principal: Optional[dict], **credential_kwargs: Any):
        if principal is None:
            return self.cmk.credential(**credential_kwargs)
        return self.cmk.credential(
            tenant_id=principal["tenant_id"],
            client_id=principal["clientId"],
            client_secret=principal["clientSecret"],
            **credential_kwargs,
        )

    def keys(self, vault: Vault, principal: Optional[dict] = None, *, credential_kwargs=None, **kwargs) -> KeyClient:
        client = KeyClient(
            vault.url, self._credential(principal, **(credential_kwargs or {})), **self.cmk.client_kwargs(**kwargs)
        )
        self._open.append(client)
        return client

    def crypto(self, key: Any, principal: Optional[dict] = None, **kwargs) -> CryptographyClient:
        client = CryptographyClient(key, self._credential(principal), **self.cmk.client_kwargs(**kwargs))
        self._open.append(client)
        return client

    def close(self) -> None:
        while self._open:
            try:
                self._open.pop().close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass


@pytest.fixture
def clients(cmk, localhost_subdomains):
    made = Clients(cmk)
    yield made
    made.close()


@pytest.fixture
def key_client(clients, vault) -> KeyClient:
    return clients.keys(vault)


@pytest.fixture(scope="module")
def stranger(cmk) -> dict:
    """A second service principal of the dev tenant, named in no access policy."""
    return new_principal(cmk)


@pytest.fixture(scope="module")
def foreigner(cmk) -> dict:
    """A service principal of another tenant, made with the admin API."""
    tenant = admin_post(cmk, "/tenants", {"displayName": f"compat keys {uuid.uuid4().hex[:8]}"})
    return new_principal(cmk, tenant["tenantId"])


# --- the challenge -------------------------------------------------------------------------


def test_first_request_is_challenged_then_sent_with_a_vault_token(cmk, clients, vault, principal_oid):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("first")

    key = client.create_rsa_key(name, size=2048)

    assert key.name == name
    assert [(e.method, e.status) for e in log.exchanges] == [("POST", 401), ("POST", 200)], log.calls()
    challenge, retry = log.exchanges
    assert challenge.path == retry.path == f"/keys/{name}/create"
    assert challenge.authorization is None
    assert challenge.body is None, "the challenge policy sends the first request without its body"
    scheme, params = parse_challenge(challenge.headers.get("www-authenticate", ""))
    assert scheme == "Bearer", challenge.headers
    assert params.get("authorization") == f"{cmk.authority.rstrip('/')}/{cmk.tenant_id}", params
    assert params.get("resource") == vault_resource(cmk), params

    assert retry.authorization and retry.authorization.startswith("Bearer ")
    claims = jwt_claims(retry.authorization[len("Bearer "):])
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert [a.rstrip("/") for a in audiences] == [vault_resource(cmk)], claims["aud"]
    assert claims["tid"] == cmk.tenant_id
    assert claims["oid"] == principal_oid
    assert retry.body == {"kty": "RSA", "key_size": 2048}

    # The challenge is cached per host: the next request carries the token straight away.
    log.clear()
    client.get_key(name)
    assert log.calls() == [("GET", f"/keys/{name}/", 200)]
    assert log.exchanges[0].authorization is not None


def test_request_without_token_is_challenged_before_the_body_is_read(cmk, vault, localhost_subdomains):
    response = requests.post(
        f"{vault.url}/keys/nobody/create",
        params={"api-version": "2025-07-01"},
        data="this is not json",
        headers={"Content-Type": "application/json"},
        verify=cmk.ca_file,
        timeout=10,
    )

    assert response.status_code == 401, response.text
    scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
    assert scheme == "Bearer"
    assert params.get("authorization") == f"{cmk.authority.rstrip('/')}/{cmk.tenant_id}"
    assert params.get("resource") == vault_resource(cmk)


# --- create, get, versions, list -----------------------------------------------------------


def assert_rsa_key(key: KeyVaultKey, vault: Vault, name: str, *, kty: str = "RSA", size: int = 2048) -> None:
    assert key.name == name
    assert key.properties.vault_url == vault.url
    assert VERSION.fullmatch(key.properties.version or ""), key.id
    assert key.id == f"{vault.url}/keys/{name}/{key.properties.version}"
    assert key.key.kid == key.id
    assert plain(key.key_type) == kty
    assert len(key.key.n) == size // 8 and key.key.n[0] & 0x80, "n is not a big-endian modulus of the key size"
    assert key.key.e == b"\x01\x00\x01"
    assert public_key_of(key).key_size == size
    assert {plain(op) for op in key.key_operations} >= RSA_KEY_OPS, key.key_operations
    for private in ("d", "p", "q", "dp", "dq", "qi"):
        assert getattr(key.key, private) is None, f"the key bundle leaks {private}"
    props = key.properties
    assert props.enabled is True
    assert props.created_on is not None and props.created_on.tzinfo is not None
    assert props.updated_on == props.created_on
    assert props.recoverable_days == RETENTION_DAYS


def test_create_rsa_key_and_get_it(key_client, vault):
    name = new_key_name("rsa")

    key = key_client.create_rsa_key(name, size=2048)

    assert_rsa_key(key, vault, name)
    assert key.properties.recovery_level == "CustomizedRecoverable"  # purge protection, 7..89 days
    got = key_client.get_key(name)
    assert got.id == key.id
    assert got.key.n == key.key.n and got.key.e == key.key.e
    assert key_client.get_key(name, key.properties.version).id == key.id


def test_create_hardware_protected_rsa_key(key_client, vault):
    name = new_key_name("hsm")

    key = key_client.create_rsa_key(name, size=2048, hardware_protected=True)

    assert_rsa_key(key, vault, name, kty="RSA-HSM")
    assert plain(key_client.get_key(name).key_type) == "RSA-HSM"


def test_create_key_with_key_type_and_size_3072(key_client, vault):
    name = new_key_name("rsa3k")

    key = key_client.create_key(name, "RSA", size=3072)

    assert_rsa_key(key, vault, name, size=3072)
    assert public_key_of(key_client.get_key(name)).key_size == 3072


def test_creating_a_name_again_adds_versions(key_client, vault):
    name = new_key_name("ver")
    created = [key_client.create_rsa_key(name, size=2048) for _ in range(3)]
    versions = [k.properties.version for k in created]

    assert len(set(versions)) == 3
    assert len({k.key.n for k in created}) == 3, "each version must have its own key material"
    latest = key_client.get_key(name)
    assert latest.id == created[-1].id
    first = key_client.get_key(name, versions[0])
    assert first.id == created[0].id and first.key.n == created[0].key.n

    listed = list(key_client.list_properties_of_key_versions(name))
    assert sorted(p.version for p in listed) == sorted(versions)
    for props in listed:
        assert props.name == name
        assert props.id == f"{vault.url}/keys/{name}/{props.version}"
        assert props.enabled is True

    keys = [p for p in key_client.list_properties_of_keys() if p.name == name]
    assert len(keys) == 1, "a key is listed once, whatever its number of versions"
    assert keys[0].id == f"{vault.url}/keys/{name}"
    assert keys[0].version is None


def test_list_keys_follows_pages_of_max_page_size(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    names = {new_key_name("page") for _ in range(5)}
    for name in names:
        client.create_rsa_key(name, size=2048)
    log.clear()

    pages = [list(page) for page in client.list_properties_of_keys(max_page_size=2).by_page()]

    assert all(len(page) <= 2 for page in pages), [len(p) for p in pages]
    assert len(pages) >= 3, [len(p) for p in pages]
    listed = [p.name for page in pages for p in page]
    assert sorted(listed) == sorted(names)
    first = log.exchanges[0]
    assert (first.method, first.path, first.query.get("maxresults")) == ("GET", "/keys", ["2"])
    assert all(e.status == 200 for e in log.exchanges), log.calls()


def test_list_of_an_empty_vault_is_empty(key_client):
    assert list(key_client.list_properties_of_keys()) == []
    assert list(key_client.list_deleted_keys()) == []


# --- update --------------------------------------------------------------------------------


def test_update_key_properties_disables_tags_and_back(key_client, vault):
    name = new_key_name("upd")
    key = key_client.create_rsa_key(name, size=2048)
    version = key.properties.version

    updated = key_client.update_key_properties(name, version, enabled=False, tags={"env": "test", "team": "compat"})

    assert updated.id == key.id
    assert updated.properties.enabled is False
    assert updated.properties.tags == {"env": "test", "team": "compat"}
    assert updated.key.n == key.key.n
    assert updated.properties.updated_on >= key.properties.updated_on
    versions = {p.version: p for p in key_client.list_properties_of_key_versions(name)}
    assert versions[version].enabled is False
    assert versions[version].tags == {"env": "test", "team": "compat"}

    back = key_client.update_key_properties(name, version, enabled=True, tags={"env": "prod"})

    assert back.properties.enabled is True
    assert back.properties.tags == {"env": "prod"}
    got = key_client.get_key(name, version)
    assert got.properties.enabled is True
    assert got.properties.tags == {"env": "prod"}


def test_update_without_version_changes_the_latest_version(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("updl")
    client.create_rsa_key(name, size=2048)
    latest = client.create_rsa_key(name, size=2048)
    log.clear()

    updated = client.update_key_properties(name, tags={"latest": "yes"})

    assert log.calls() == [("PATCH", f"/keys/{name}/", 200)]
    assert log.exchanges[0].body == {"tags": {"latest": "yes"}}
    assert updated.id == latest.id
    assert updated.properties.tags == {"latest": "yes"}


# --- soft delete, recover, purge -----------------------------------------------------------


def test_delete_then_recover(key_client, vault):
    name = new_key_name("del")
    key_client.create_rsa_key(name, size=2048)
    key = key_client.create_rsa_key(name, size=2048)

    poller = key_client.begin_delete_key(name)
    deleted = poller.result()
    timed_wait(poller)

    assert deleted.name == name
    assert deleted.recovery_id == f"{vault.url}/deletedkeys/{name}"
    assert deleted.id == key.id
    assert deleted.deleted_date is not None and deleted.scheduled_purge_date is not None
    assert abs(deleted.scheduled_purge_date - deleted.deleted_date - timedelta(days=RETENTION_DAYS)) < timedelta(
        minutes=1
    )
    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")
    assert name not in {p.name for p in key_client.list_properties_of_keys()}

    got = key_client.get_deleted_key(name)
    assert got.name == name
    assert got.id == key.id
    assert got.recovery_id == deleted.recovery_id
    assert got.key.n == key.key.n
    assert got.deleted_date == deleted.deleted_date
    listed = [d for d in key_client.list_deleted_keys() if d.name == name]
    assert len(listed) == 1
    assert listed[0].recovery_id == deleted.recovery_id
    assert listed[0].id == f"{vault.url}/keys/{name}"

    with pytest.raises(ResourceExistsError) as excinfo:
        key_client.create_rsa_key(name, size=2048)
    assert_kv_error(excinfo.value, 409, "Conflict")

    poller = key_client.begin_recover_deleted_key(name)
    recovered = poller.result()
    timed_wait(poller)

    assert recovered.id == key.id
    assert key_client.get_key(name).key.n == key.key.n
    assert len(list(key_client.list_properties_of_key_versions(name))) == 2
    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_deleted_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")
    assert name not in {d.name for d in key_client.list_deleted_keys()}
    assert name in {p.name for p in key_client.list_properties_of_keys()}


def test_purge_under_purge_protection_is_refused(key_client):
    name = new_key_name("prot")
    key = key_client.create_rsa_key(name, size=2048)
    timed_wait(key_client.begin_delete_key(name))

    with pytest.raises(HttpResponseError) as excinfo:
        key_client.purge_deleted_key(name)

    assert excinfo.value.status_code == 403, excinfo.value
    assert "purge protection" in str(excinfo.value).lower(), excinfo.value
    assert key_client.get_deleted_key(name).id == key.id


def test_purge_without_purge_protection_frees_the_name(clients, make_vault):
    vault = make_vault("purge", purge_protection=False, keys=["all"])
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("gone")
    key = client.create_rsa_key(name, size=2048)
    assert key.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    timed_wait(client.begin_delete_key(name))
    log.clear()

    assert client.purge_deleted_key(name) is None

    assert log.calls() == [("DELETE", f"/deletedkeys/{name}", 204)]
    with pytest.raises(ResourceNotFoundError) as excinfo:
        client.get_deleted_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")
    assert name not in {d.name for d in client.list_deleted_keys()}
    again = client.create_rsa_key(name, size=2048)
    assert again.properties.version != key.properties.version
    assert [p.version for p in client.list_properties_of_key_versions(name)] == [again.properties.version]


# --- import --------------------------------------------------------------------------------


def local_rsa_jwk(private: rsa.RSAPrivateKey) -> JsonWebKey:
    numbers = private.private_numbers()
    public = numbers.public_numbers
    return JsonWebKey(
        kty="RSA",
        key_ops=sorted(RSA_KEY_OPS),
        n=int_bytes(public.n),
        e=int_bytes(public.e),
        d=int_bytes(numbers.d),
        p=int_bytes(numbers.p),
        q=int_bytes(numbers.q),
        dp=int_bytes(numbers.dmp1),
        dq=int_bytes(numbers.dmq1),
        qi=int_bytes(numbers.iqmp),
    )


def test_import_key_then_use_it_in_the_vault(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    name = new_key_name("imp")

    imported = client.import_key(name, local_rsa_jwk(private))

    put = [e for e in log.exchanges if e.method == "PUT" and e.status == 200]
    assert [e.path for e in put] == [f"/keys/{name}"], log.calls()
    assert set(put[0].body) == {"key"}, put[0].body
    assert_rsa_key(imported, vault, name)
    assert int.from_bytes(imported.key.n, "big") == public.public_numbers().n
    assert client.get_key(name).id == imported.id

    crypto = clients.crypto(imported)
    digest = digest_of(b"imported key, signed in the vault")
    signed = crypto.sign(SignatureAlgorithm.rs256, digest)
    assert signed.key_id == imported.id
    public.verify(signed.signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    pss = crypto.sign(SignatureAlgorithm.ps256, digest).signature
    public.verify(
        pss, digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), utils.Prehashed(hashes.SHA256())
    )

    secret = os.urandom(32)
    wrapped = public.encrypt(
        secret, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == secret


def test_import_with_hardware_protection_sends_hsm_flag(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("imphsm")

    imported = client.import_key(
        name, local_rsa_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)), hardware_protected=True
    )

    put = [e for e in log.exchanges if e.method == "PUT" and e.status == 200]
    assert len(put) == 1 and put[0].body.get("Hsm") is True, log.calls()
    assert plain(imported.key_type) == "RSA-HSM"


# --- cryptography --------------------------------------------------------------------------


def test_cryptography_client_wraps_locally_and_unwraps_in_the_vault(clients, key_client):
    key = key_client.create_rsa_key(new_key_name("wrap"), size=2048)
    log = RequestLog()
    crypto = clients.crypto(key, raw_response_hook=log)

    for algorithm in (KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep_256):
        secret = os.urandom(32)
        wrapped = crypto.wrap_key(algorithm, secret)
        assert wrapped.key_id == key.id
        assert len(wrapped.encrypted_key) == 256
        log.clear()

        unwrapped = crypto.unwrap_key(algorithm, wrapped.encrypted_key)

        assert unwrapped.key == secret, f"{algorithm}: unwrapped bytes differ"
        assert unwrapped.key_id == key.id
        calls = [(e.method, e.path, e.status) for e in log.exchanges]
        assert calls[-1] == ("POST", f"/keys/{key.name}/{key.properties.version}/unwrapkey", 200), calls
        assert log.exchanges[-1].body.get("alg") == plain(algorithm)


def test_cryptography_client_encrypts_and_decrypts(clients, key_client):
    key = key_client.create_rsa_key(new_key_name("enc"), size=2048)
    crypto = clients.crypto(key)

    for algorithm in (EncryptionAlgorithm.rsa_oaep_256, EncryptionAlgorithm.rsa1_5, EncryptionAlgorithm.rsa_oaep):
        plaintext = os.urandom(32)
        encrypted = crypto.encrypt(algorithm, plaintext)
        assert encrypted.key_id == key.id

        decrypted = crypto.decrypt(algorithm, encrypted.ciphertext)

        assert decrypted.plaintext == plaintext, f"{algorithm}: decrypted bytes differ"


def test_cryptography_client_signs_in_the_vault_and_verifies(clients, key_client):
    key = key_client.create_rsa_key(new_key_name("sign"), size=2048)
    crypto = clients.crypto(key)
    public = public_key_of(key)
    digest = digest_of(b"a message to sign")

    for algorithm, scheme in (
        (SignatureAlgorithm.rs256, padding.PKCS1v15()),
        (SignatureAlgorithm.ps256, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)),
    ):
        signed = crypto.sign(algorithm, digest)

        assert signed.key_id == key.id
        assert len(signed.signature) == 256
        assert crypto.verify(algorithm, digest, signed.signature).is_valid is True
        assert crypto.verify(algorithm, tampered(digest), signed.signature).is_valid is False
        public.verify(signed.signature, digest, scheme, utils.Prehashed(hashes.SHA256()))


def test_cryptography_client_from_key_id(clients, key_client):
    key = key_client.create_rsa_key(new_key_name("byid"), size=2048)
    log = RequestLog()
    crypto = clients.crypto(key.id, raw_response_hook=log)
    secret = os.urandom(32)
    wrapped = CryptographyClient.from_jwk(key.key).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)

    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    digest = digest_of(b"signed through a client built from the key id")
    signature = crypto.sign(SignatureAlgorithm.rs256, digest).signature
    assert crypto.verify(SignatureAlgorithm.rs256, digest, signature).is_valid is True
    assert crypto.decrypt(
        EncryptionAlgorithm.rsa_oaep, crypto.encrypt(EncryptionAlgorithm.rsa_oaep, secret).ciphertext
    ).plaintext == secret

    prefix = f"/keys/{key.name}/{key.properties.version}"
    ok = [(e.method, e.path) for e in log.exchanges if e.status == 200]
    assert ok[0] == ("GET", prefix), "the client first fetches the public key"
    assert ("POST", f"{prefix}/unwrapkey") in ok
    assert ("POST", f"{prefix}/sign") in ok
    assert ("POST", f"{prefix}/decrypt") in ok

    # Built from the id without a version it asks for the latest version.
    versionless = RequestLog()
    latest = clients.crypto(f"{key_client.vault_url}/keys/{key.name}", raw_response_hook=versionless)
    assert latest.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    assert ("GET", f"/keys/{key.name}/", 200) in versionless.calls()


def test_older_version_still_unwraps_after_a_new_version(clients, key_client):
    name = new_key_name("old")
    old = key_client.create_rsa_key(name, size=2048)
    secret = os.urandom(32)
    wrapped = clients.crypto(old).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
    new = key_client.create_rsa_key(name, size=2048)
    assert new.properties.version != old.properties.version

    assert clients.crypto(old.id).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    # The latest version is another key: it cannot unwrap what the old one wrapped.
    with pytest.raises(HttpResponseError) as excinfo:
        clients.crypto(new.id).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    assert 400 <= (excinfo.value.status_code or 0) < 500, excinfo.value


def test_principal_without_get_permission_does_everything_in_the_vault(cmk, clients, kv_mgmt, group, vault):
    """Without keys/get a CryptographyClient cannot fetch the public key, so wrap, encrypt and
    verify go to the vault too."""
    key = clients.keys(vault).create_rsa_key(new_key_name("remote"), size=2048)
    worker = new_principal(cmk)
    kv_mgmt.vaults.update_access_policy(
        group,
        vault.name,
        "add",
        VaultAccessPolicyParameters(
            properties=VaultAccessPolicyProperties(
                access_policies=[access_policy(cmk.tenant_id, worker["objectId"], CRYPTO_ONLY_PERMISSIONS)]
            )
        ),
    )
    log = RequestLog()
    crypto = clients.crypto(key.id, worker, raw_response_hook=log)
    secret = os.urandom(32)

    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep, secret)
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep, encrypted.ciphertext).plaintext == secret
    digest = digest_of(b"verified by the vault")
    signature = crypto.sign(SignatureAlgorithm.ps256, digest).signature
    assert crypto.verify(SignatureAlgorithm.ps256, digest, signature).is_valid is True
    assert crypto.verify(SignatureAlgorithm.ps256, tampered(digest), signature).is_valid is False

    prefix = f"/keys/{key.name}/{key.properties.version}"
    calls = log.calls()
    assert ("GET", prefix, 403) in calls, calls
    for operation in ("wrapkey", "unwrapkey", "encrypt", "decrypt", "sign", "verify"):
        assert ("POST", f"{prefix}/{operation}", 200) in calls, f"no remote {operation}: {calls}"
    # What the vault wrapped, the owner's client unwraps too.
    assert clients.crypto(key).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret


# --- refusals ------------------------------------------------------------------------------


def test_missing_key_is_not_found(key_client):
    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_key(new_key_name("missing"))
    assert_kv_error(excinfo.value, 404, "KeyNotFound")

    name = new_key_name("there")
    key_client.create_rsa_key(name, size=2048)
    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_key(name, uuid.uuid4().hex)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")

    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_deleted_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")


def test_disabled_key_refuses_cryptography_until_enabled(clients, key_client):
    key = key_client.create_rsa_key(new_key_name("off"), size=2048)
    secret = os.urandom(32)
    wrapped = clients.crypto(key).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret).encrypted_key
    key_client.update_key_properties(key.name, key.properties.version, enabled=False)

    for crypto in (clients.crypto(key), clients.crypto(key.id)):
        with pytest.raises(HttpResponseError) as excinfo:
            crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped)
        assert excinfo.value.status_code == 403, excinfo.value
        assert "disabled" in str(excinfo.value).lower(), excinfo.value
    with pytest.raises(HttpResponseError) as excinfo:
        clients.crypto(key).sign(SignatureAlgorithm.rs256, digest_of(b"x"))
    assert excinfo.value.status_code == 403, excinfo.value
    assert "disabled" in str(excinfo.value).lower(), excinfo.value

    key_client.update_key_properties(key.name, key.properties.version, enabled=True)

    assert clients.crypto(key).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == secret


def test_rsa_key_of_1024_bits_is_refused(key_client):
    name = new_key_name("small")

    with pytest.raises(HttpResponseError) as excinfo:
        key_client.create_rsa_key(name, size=1024)

    assert_kv_error(excinfo.value, 400, "BadParameter")
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)


def test_principal_without_access_policy_is_forbidden(clients, key_client, vault, stranger):
    key = key_client.create_rsa_key(new_key_name("mine"), size=2048)
    secret = os.urandom(32)
    wrapped = clients.crypto(key).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret).encrypted_key
    intruder = clients.keys(vault, stranger)

    attempts = {
        "get": lambda: intruder.get_key(key.name),
        "list": lambda: list(intruder.list_properties_of_keys()),
        "create": lambda: intruder.create_rsa_key(new_key_name("theirs"), size=2048),
        "unwrapKey": lambda: clients.crypto(key.id, stranger).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped),
        "delete": lambda: intruder.begin_delete_key(key.name),
    }
    for permission, attempt in attempts.items():
        with pytest.raises(HttpResponseError) as excinfo:
            attempt()
        assert_forbidden_naming(excinfo.value, permission)

    # Nothing happened to the owner's key.
    assert key_client.get_key(key.name).id == key.id
    assert [p.name for p in key_client.list_properties_of_keys()] == [key.name]
    assert clients.crypto(key).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == secret


def test_principal_of_another_tenant_is_refused(clients, key_client, vault, foreigner, monkeypatch):
    name = new_key_name("home")
    key_client.create_rsa_key(name, size=2048)

    # The challenge names the vault's tenant; azure-identity will not fetch a token there for a
    # credential of another tenant.
    with pytest.raises(ClientAuthenticationError):
        clients.keys(vault, foreigner).get_key(name)

    # Allowed to try any tenant, the credential asks the vault's tenant for a token for a principal
    # that tenant does not have (refused there), or the vault refuses what it gets.
    anywhere = clients.keys(vault, foreigner, credential_kwargs={"additionally_allowed_tenants": ["*"]})
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as excinfo:
        anywhere.get_key(name)
    if not isinstance(excinfo.value, ClientAuthenticationError):
        assert excinfo.value.status_code == 401, excinfo.value

    # With multi-tenant authentication off, the credential sends a token of its own tenant, with
    # the vault audience: the vault itself must refuse it.
    monkeypatch.setenv("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH", "1")
    own_tenant = clients.keys(vault, foreigner)
    with pytest.raises(ClientAuthenticationError) as excinfo:
        own_tenant.get_key(name)
    assert excinfo.value.status_code == 401, excinfo.value


def test_rotate_and_rotation_policy(key_client, vault):
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction

    name = new_key_name("rot")
    first = key_client.create_rsa_key(name, size=2048)

    rotated = key_client.rotate_key(name)
    assert rotated.properties.version != first.properties.version
    assert key_client.get_key(name).id == rotated.id

    policy = KeyRotationPolicy(
        expires_in="P1Y",
        lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")],
    )
    stored = key_client.update_key_rotation_policy(name, policy)
    assert stored.expires_in == "P1Y"
    assert any(a.time_after_create == "P90D" for a in stored.lifetime_actions)
    read = key_client.get_key_rotation_policy(name)
    assert read.expires_in == "P1Y"
    assert any(a.time_after_create == "P90D" for a in read.lifetime_actions)

    with pytest.raises(HttpResponseError) as refused:
        key_client.update_key_rotation_policy(
            name,
            KeyRotationPolicy(lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P1D")]),
        )
    assert_kv_error(refused.value, 400, "BadParameter")


def test_backup_and_restore_into_another_vault(clients, make_vault):
    source = make_vault("bk-src")
    target = make_vault("bk-dst")
    source_client = clients.keys(source)
    target_client = clients.keys(target)
    name = new_key_name("bk")
    key = source_client.create_rsa_key(name, size=2048)

    blob = source_client.backup_key(name)
    assert isinstance(blob, bytes) and len(blob) > 256

    restored = target_client.restore_key_backup(blob)
    assert restored.name == name
    assert restored.properties.version == key.properties.version
    assert restored.key.n == key.key.n
    with pytest.raises(ResourceExistsError):
        source_client.restore_key_backup(blob)
