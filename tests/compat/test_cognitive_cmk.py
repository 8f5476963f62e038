"""Customer-managed keys for Microsoft.CognitiveServices/accounts (docs/accounts.md), driven end to end by the
unmodified SDKs as a user would drive them:

* azure-mgmt-cognitiveservices (CognitiveServicesManagementClient): accounts, keys, identity, encryption;
* azure-mgmt-keyvault (KeyVaultManagementClient): the vaults and their access policies;
* azure-keyvault-keys (KeyClient, CryptographyClient): the customer's keys;
* azure-identity: ClientSecretCredential for the dev principal (the operator) and ManagedIdentityCredential for
  the account's system-assigned identity, over both the App Service and the IMDS protocol;
* plain ``requests`` for the account's data plane (``/content/{name}`` with ``Ocp-Apim-Subscription-Key``) and
  for the operators' ``/cmk/admin`` API.

azure-mgmt-cognitiveservices 14.x is an msrest-based (autorest) SDK: its models drop fields they do not know, such
as ``properties.encryption.keyAccess`` and ``keyVaultProperties.currentVersionedKeyIdentifier``. Those are read
from the raw JSON of the SDK's own GET (``accounts.get(..., cls=...)``). Its ``Encryption`` model defaults
``key_source`` to ``Microsoft.KeyVault``, so every body here names the key source explicitly.

Account endpoints (``https://{subdomain}.cognitiveservices.localhost:{port}/``) and vault hosts are resolved to the
loopback address inside this process by the ``localhost_subdomains`` fixture (conftest.py).

Revocation and recovery times are measured and printed (run with ``-s`` to see them; they are also recorded as
test properties).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import (
    Account,
    AccountProperties,
    Encryption,
    Identity,
    KeyVaultProperties,
    Sku as AccountSku,
)
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import (
    AccessPolicyEntry,
    Permissions,
    Sku as VaultSku,
    VaultAccessPolicyParameters,
    VaultAccessPolicyProperties,
    VaultCreateOrUpdateParameters,
    VaultProperties,
)
from azure.mgmt.resource.resources import ResourceManagementClient

LOCATION = "westus2"
OTHER_LOCATION = "eastus"
RETENTION_DAYS = 7
ACCOUNT_TYPE = "Microsoft.CognitiveServices/accounts"
KIND = "TextAnalytics"
PLATFORM_KEYS = "Microsoft.CognitiveServices"
CUSTOMER_KEYS = "Microsoft.KeyVault"
# What the account's identity needs on the vault (docs/accounts.md).
IDENTITY_KEY_PERMISSIONS = ["get", "wrapKey", "unwrapKey"]
# What the dev principal (the operator playing the customer) gets on its vaults.
OPERATOR_KEY_PERMISSIONS = [
    "get",
    "list",
    "create",
    "update",
    "delete",
    "recover",
    "purge",
    "rotate",
    "wrapKey",
    "unwrapKey",
    "encrypt",
    "decrypt",
]
# Every management operation here must answer synchronously (200/201 with provisioningState Succeeded);
# azure-mgmt-core would sleep 30 s per poll otherwise.
SYNC_TIME_LIMIT_S = 10.0
# A revocation must show on the data plane within this time of the revoking call returning.
REVOCATION_LIMIT_S = 1.0
REVOCATION_POLL_S = 0.05
# How long to keep polling, to report the real latency when the limit is missed.
OBSERVE_LIMIT_S = 10.0
# After access returns, the account must recover by itself within this time.
RECOVERY_LIMIT_S = 10.0
RECOVERY_POLL_S = 0.1
# The ARM view must agree with the data plane within this time once the data plane has answered.
ARM_STATE_GRACE_S = 2.0
MiB = 1024 * 1024
WRAP = KeyWrapAlgorithm.rsa_oaep_256

# Variables that steer ManagedIdentityCredential (and MSAL below it) to one hosting environment or another.
MANAGED_IDENTITY_ENV = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
)


# --- helpers -------------------------------------------------------------------------------


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, decoded without verifying the signature."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def unique(tag: str) -> str:
    """A name unique to this run: a letter first, then letters, digits and hyphens (fits vaults: 3-24 chars)."""
    return f"{tag[:10]}-{uuid.uuid4().hex[:12]}"


def plain(value: Any) -> Any:
    """An SDK str enum as its plain string."""
    return getattr(value, "value", value)


def host_with_port(cmk, host: str) -> str:
    port = urlsplit(cmk.url).port
    return host if port in (None, 443) else f"{host}:{port}"


def dns_suffix(cmk) -> str:
    """The deployment's DNS suffix (``localhost`` in dev), from the vault suffix ``.vault.{suffix}``."""
    suffix = cmk.vault_dns_suffix
    assert suffix.startswith(".vault."), f"unexpected vault_dns_suffix {suffix!r}"
    return suffix[len(".vault."):]


def vault_scope(cmk) -> str:
    """The scope of the vault data plane: https://vault.{suffix}[:port]/.default."""
    return f"https://{host_with_port(cmk, 'vault.' + dns_suffix(cmk))}/.default"


def cognitive_services_scope(cmk) -> str:
    """The scope of the account data plane: https://cognitiveservices.{suffix}[:port]/.default."""
    return f"https://{host_with_port(cmk, 'cognitiveservices.' + dns_suffix(cmk))}/.default"


def resource_of(scope: str) -> str:
    return scope[: -len("/.default")]


def expected_endpoint(cmk, subdomain: str) -> str:
    return f"https://{host_with_port(cmk, f'{subdomain}.cognitiveservices.{dns_suffix(cmk)}')}/"


def expected_vault_uri(cmk, name: str) -> str:
    return f"https://{host_with_port(cmk, f'{name}{cmk.vault_dns_suffix}')}/"


def account_id(cmk, group: str, name: str) -> str:
    return f"/subscriptions/{cmk.subscription_id}/resourceGroups/{group}/providers/{ACCOUNT_TYPE}/{name}"


def assert_arm_error(exc: HttpResponseError, status: int, code: str) -> None:
    assert exc.status_code == status, f"expected {status} {code}, got {exc.status_code}: {exc}"
    assert exc.error is not None, f"no ARM error body {{'error': {{'code', 'message'}}}}: {exc}"
    assert exc.error.code == code, f"expected error code {code!r}, got {exc.error.code!r}: {exc.error.message}"


def error_code(response: requests.Response) -> Optional[str]:
    """The ``error.code`` of a JSON error body, or None."""
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def describe(response: requests.Response) -> str:
    body = response.text if len(response.content) < 2000 else f"<{len(response.content)} bytes>"
    return f"{response.request.method} {urlsplit(response.url).path} -> {response.status_code} {body}"


def management_token(cmk) -> str:
    return cmk.credential().get_token(cmk.management_scope).token


def admin_get(cmk, path: str, params: dict) -> dict:
    """GET from the operators' admin API with the dev principal's management token."""
    response = requests.get(
        cmk.authority.rstrip("/") + "/cmk/admin" + path,
        params=params,
        headers={"Authorization": f"Bearer {management_token(cmk)}"},
        verify=cmk.ca_file,
        timeout=10,
    )
    assert response.status_code == 200, f"GET /cmk/admin{path}: {response.status_code} {response.text}"
    return response.json()


def reencrypt(cmk, env, name: str) -> dict:
    """Start the re-encryption job (POST {account}/reencrypt) and follow it until it ends."""
    url = cmk.management_endpoint.rstrip("/") + env.account_id(name) + "/reencrypt"
    headers = {"Authorization": f"Bearer {management_token(cmk)}"}
    params = {"api-version": "2025-09-01"}
    started = requests.post(url, params=params, headers=headers, verify=cmk.ca_file, timeout=10)
    assert started.status_code == 202, describe(started)
    job = started.json()
    assert job["status"] in ("Running", "Succeeded"), job
    assert job["objectsTotal"] >= 1, job
    deadline = time.monotonic() + 30
    while job["status"] == "Running":
        assert time.monotonic() < deadline, f"the re-encryption did not finish: {job}"
        time.sleep(0.05)
        polled = requests.get(url, params=params, headers=headers, verify=cmk.ca_file, timeout=10)
        assert polled.status_code == 200, describe(polled)
        job = polled.json()
    assert job["status"] == "Succeeded", job
    assert job["objectsDone"] == job["objectsTotal"] and job["percentComplete"] == 100, job
    return job


def timed(what: str, call: Callable[[], Any]) -> Any:
    """Run a management call (begin_*(...).result()) that must finish without polling."""
    started = time.monotonic()
    result = call()
    elapsed = time.monotonic() - started
    assert elapsed < SYNC_TIME_LIMIT_S, (
        f"{what} took {elapsed:.1f} s; the service should answer 200/201 with provisioningState Succeeded "
        "so the SDK does not poll"
    )
    return result


def clear_managed_identity_env(mp: pytest.MonkeyPatch) -> None:
    for name in MANAGED_IDENTITY_ENV:
        mp.delenv(name, raising=False)


@dataclass
class Vault:
    name: str
    uri: str  # vault_uri as ARM gives it, with the trailing slash

    @property
    def url(self) -> str:
        """The vault URL as KeyClient keeps it (no trailing slash)."""
        return self.uri.rstrip("/")


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    etag: Optional[str] = None


def etag_value(etag: Optional[str]) -> Optional[str]:
    """An ETag without weak prefix and quotes, for comparing the JSON field with the header."""
    if etag is None:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


class DataPlane:
    """The account's data plane at its endpoint, with one of its keys, through plain requests."""

    def __init__(self, endpoint: str, key: str, ca_file: str) -> None:
        self.base = endpoint.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Ocp-Apim-Subscription-Key"] = key
        # Passed with each request: requests lets REQUESTS_CA_BUNDLE override a Session's own ``verify``.
        self.verify = ca_file
        # What the account holds, as far as this test knows: name -> object.
        self.objects: dict[str, StoredObject] = {}
        # Names whose PUT was refused; they must never appear.
        self.refused: list[str] = []

    def url(self, name: str = "") -> str:
        return f"{self.base}/content/{name}" if name else f"{self.base}/content"

    def put_raw(self, name: str, data: bytes, content_type: str) -> requests.Response:
        return self.session.put(
            self.url(name), data=data, headers={"Content-Type": content_type}, verify=self.verify, timeout=60
        )

    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
        """Store an object; 201 when new, 200 when it replaces one."""
        expected = 200 if name in self.objects else 201
        response = self.put_raw(name, data, content_type)
        assert response.status_code == expected, f"storing {name!r}: expected {expected}, got {describe(response)}"
        body = response.json()
        assert body.get("name") == name, body
        assert body.get("size") == len(data), f"stored {len(data)} bytes of {name!r}, the service says {body}"
        assert body.get("contentType") == content_type, body
        assert body.get("etag"), body
        assert body.get("lastModified"), body
        self.objects[name] = StoredObject(data, content_type, body["etag"])
        return body

    def get(self, name: str) -> requests.Response:
        return self.session.get(self.url(name), verify=self.verify, timeout=60)

    def head(self, name: str) -> requests.Response:
        return self.session.head(self.url(name), verify=self.verify, timeout=60)

    def delete(self, name: str) -> requests.Response:
        return self.session.delete(self.url(name), verify=self.verify, timeout=60)

    def list(self, **params: Any) -> requests.Response:
        return self.session.get(self.url(), params=params, verify=self.verify, timeout=60)

    def assert_readable(self, name: str, context: str) -> None:
        expected = self.objects[name]
        response = self.get(name)
        assert response.status_code == 200, f"{context}: reading {name!r}: {describe(response)}"
        assert response.content == expected.data, (
            f"{context}: {name!r} read back {len(response.content)} bytes that differ from the "
            f"{len(expected.data)} bytes stored"
        )
        assert response.headers.get("Content-Type") == expected.content_type, (
            f"{context}: {name!r} Content-Type {response.headers.get('Content-Type')!r}, "
            f"stored as {expected.content_type!r}"
        )
        assert response.headers.get("Content-Length") == str(len(expected.data)), (
            f"{context}: {name!r} Content-Length {response.headers.get('Content-Length')!r}, "
            f"expected {len(expected.data)}"
        )
        assert etag_value(response.headers.get("ETag")) == etag_value(expected.etag), (
            f"{context}: {name!r} ETag {response.headers.get('ETag')!r}, the store answered {expected.etag!r}"
        )

    def assert_all_readable(self, context: str) -> None:
        assert self.objects, "nothing stored yet"
        for name in self.objects:
            self.assert_readable(name, context)

    def close(self) -> None:
        self.session.close()


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_oid(cmk) -> str:
    """The object id of the dev service principal, from the oid claim of its management token."""
    oid = jwt_claims(management_token(cmk)).get("oid")
    assert oid, "the management token carries no oid claim"
    return oid


@pytest.fixture(scope="module")
def accounts(cmk) -> CognitiveServicesManagementClient:
    return cmk.management_client(CognitiveServicesManagementClient)


@pytest.fixture(scope="module")
def kv_mgmt(cmk) -> KeyVaultManagementClient:
    return cmk.management_client(KeyVaultManagementClient)


@pytest.fixture(scope="module")
def resources(cmk) -> ResourceManagementClient:
    return cmk.management_client(ResourceManagementClient)


class Env:
    """One test's resource group, with what it makes in it (vaults, keys, accounts) and the clients it opens."""

    def __init__(self, cmk, accounts, kv_mgmt, resources, group: str, operator_oid: str) -> None:
        self.cmk = cmk
        self.accounts: CognitiveServicesManagementClient = accounts
        self.kv_mgmt: KeyVaultManagementClient = kv_mgmt
        self.group = group
        self.operator_oid = operator_oid
        # The accounts and vaults go where the resource group is.
        self.location = resources.resource_groups.get(group).location
        self._open: list[Any] = []

    def keep(self, obj: Any) -> Any:
        self._open.append(obj)
        return obj

    def close(self) -> None:
        while self._open:
            try:
                self._open.pop().close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass

    # vaults and keys

    def make_vault(self, tag: str = "cmk", *, purge_protection: bool = True, location: Optional[str] = None) -> Vault:
        """A vault of this tenant, soft delete on, the operator allowed every key operation it needs."""
        name = unique(tag)
        properties = VaultProperties(
            tenant_id=self.cmk.tenant_id,
            sku=VaultSku(family="A", name="standard"),
            access_policies=[
                AccessPolicyEntry(
                    tenant_id=self.cmk.tenant_id,
                    object_id=self.operator_oid,
                    permissions=Permissions(keys_property=OPERATOR_KEY_PERMISSIONS),
                )
            ],
            enable_soft_delete=True,
            soft_delete_retention_in_days=RETENTION_DAYS,
            # An access-policy vault: from API version 2026-02-01 a vault that does not say uses Azure RBAC.
            enable_rbac_authorization=False,
            # Purge protection can only be switched on; leaving it out leaves it off.
            **({"enable_purge_protection": True} if purge_protection else {}),
        )
        vault = timed(
            f"creating vault {name}",
            lambda: self.kv_mgmt.vaults.begin_create_or_update(
                self.group,
                name,
                VaultCreateOrUpdateParameters(location=location or self.location, properties=properties),
            ).result(),
        )
        assert vault.properties.vault_uri == expected_vault_uri(self.cmk, name), vault.properties.vault_uri
        assert bool(vault.properties.enable_purge_protection) == purge_protection
        return Vault(name=name, uri=vault.properties.vault_uri)

    def key_client(self, vault: Vault, credential: Any = None) -> KeyClient:
        return self.keep(KeyClient(vault.url, credential or self.cmk.credential(), **self.cmk.client_kwargs()))

    def crypto_client(self, key: Any, credential: Any = None) -> CryptographyClient:
        return self.keep(CryptographyClient(key, credential or self.cmk.credential(), **self.cmk.client_kwargs()))

    def set_identity_access(self, vault: Vault, principal_id: str, kind: str, permissions: list[str]) -> None:
        """update_access_policy(kind) for one principal's key permissions ("add", "remove" or "replace")."""
        entry = AccessPolicyEntry(
            tenant_id=self.cmk.tenant_id, object_id=principal_id, permissions=Permissions(keys_property=permissions)
        )
        self.kv_mgmt.vaults.update_access_policy(
            self.group,
            vault.name,
            kind,
            VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[entry])),
        )

    def grant(self, vault: Vault, principal_id: str) -> None:
        self.set_identity_access(vault, principal_id, "add", IDENTITY_KEY_PERMISSIONS)

    def revoke(self, vault: Vault, principal_id: str) -> None:
        self.set_identity_access(vault, principal_id, "remove", IDENTITY_KEY_PERMISSIONS)

    # accounts

    def account_id(self, name: str) -> str:
        return account_id(self.cmk, self.group, name)

    def create_account(self, tag: str = "acct", *, sku: str = "E0") -> Account:
        """A new account with Microsoft-managed keys and a subdomain unique to this run."""
        name = unique(tag)
        subdomain = f"compat-{name}"
        body = Account(
            location=self.location,
            kind=KIND,
            sku=AccountSku(name=sku),
            properties=AccountProperties(custom_sub_domain_name=subdomain),
        )
        account = timed(
            f"creating account {name}",
            lambda: self.accounts.accounts.begin_create(self.group, name, body).result(),
        )
        assert account.id == self.account_id(name), f"account id {account.id!r}"
        assert account.name == name
        assert account.type == ACCOUNT_TYPE
        assert account.kind == KIND
        assert account.location == self.location
        assert account.sku is not None and account.sku.name == sku
        props = account.properties
        assert props.provisioning_state == "Succeeded", props.provisioning_state
        assert props.custom_sub_domain_name == subdomain
        assert props.endpoint == expected_endpoint(self.cmk, subdomain), (
            f"endpoint {props.endpoint!r}, expected {expected_endpoint(self.cmk, subdomain)!r}"
        )
        assert props.encryption is not None and plain(props.encryption.key_source) == PLATFORM_KEYS, (
            "a new account should report properties.encryption.keySource Microsoft.CognitiveServices, got "
            f"{props.encryption and props.encryption.as_dict()}"
        )
        return account

    def update(self, name: str, body: Account, what: str) -> Account:
        return timed(what, lambda: self.accounts.accounts.begin_update(self.group, name, body).result())

    def raw(self, name: str) -> dict:
        """The account as the service's JSON, through the SDK's own GET (the models drop unknown fields)."""
        return self.accounts.accounts.get(
            self.group, name, cls=lambda pipeline_response, _model, _headers: pipeline_response.http_response.json()
        )

    def encryption(self, name: str) -> dict:
        return (self.raw(name).get("properties") or {}).get("encryption") or {}

    def key_source(self, name: str) -> Optional[str]:
        return self.encryption(name).get("keySource")

    def enable_identity(self, name: str) -> Identity:
        account = self.update(name, Account(identity=Identity(type="SystemAssigned")), "enabling the identity")
        identity = account.identity
        assert identity is not None and plain(identity.type) == "SystemAssigned", (
            f"identity after enabling it: {identity and identity.as_dict()}"
        )
        assert identity.principal_id, "identity.principalId is not set after enabling the system-assigned identity"
        assert identity.tenant_id == self.cmk.tenant_id, (
            f"identity.tenantId {identity.tenant_id!r}, expected the subscription's tenant {self.cmk.tenant_id!r}"
        )
        return identity

    def customer_keys(self, name: str, vault_uri: Optional[str], key_name: Optional[str], version: str = "") -> Account:
        """The PATCH body of switching customer-managed keys on (or changing the key), sent through begin_update."""
        body = Account(
            properties=AccountProperties(
                encryption=Encryption(
                    key_source=CUSTOMER_KEYS,
                    key_vault_properties=KeyVaultProperties(
                        key_name=key_name, key_version=version, key_vault_uri=vault_uri
                    ),
                )
            )
        )
        return self.update(name, body, f"switching account {name} to key {key_name!r} version {version!r}")

    def platform_keys(self, name: str) -> Account:
        body = Account(properties=AccountProperties(encryption=Encryption(key_source=PLATFORM_KEYS)))
        return self.update(name, body, f"switching account {name} back to Microsoft-managed keys")

    def assert_refused(
        self, name: str, code: str, vault_uri: Optional[str], key_name: Optional[str], version: str = ""
    ) -> None:
        """Switching customer-managed keys on is refused with 400 ``code``, and the account keeps platform keys."""
        with pytest.raises(HttpResponseError) as excinfo:
            self.customer_keys(name, vault_uri, key_name, version)
        assert_arm_error(excinfo.value, 400, code)
        assert self.key_source(name) == PLATFORM_KEYS, (
            f"after a refused switch ({code}) the account should still use Microsoft-managed keys"
        )

    def data_plane(self, account: Account) -> DataPlane:
        keys = self.accounts.accounts.list_keys(self.group, account.name)
        assert keys.key1 and keys.key2 and keys.key1 != keys.key2, "listKeys should answer two different keys"
        return self.keep(DataPlane(account.properties.endpoint, keys.key1, self.cmk.ca_file))


@pytest.fixture
def env(cmk, accounts, kv_mgmt, resources, rg_name, operator_oid, localhost_subdomains):
    resources.resource_groups.create_or_update(rg_name, {"location": LOCATION})
    made = Env(cmk, accounts, kv_mgmt, resources, rg_name, operator_oid)
    yield made
    made.close()


# --- revocation and recovery ---------------------------------------------------------------


@dataclass
class Timings:
    """Revocation and recovery latencies, printed and recorded as test properties."""

    record: Callable[[str, Any], None]
    rows: list[tuple[str, str, float]] = field(default_factory=list)

    def add(self, what: str, phase: str, seconds: float) -> None:
        self.rows.append((what, phase, seconds))
        self.record(f"{phase} latency s ({what})", round(seconds, 3))
        print(f"[cmk accounts] {phase} after {what}: {seconds * 1000:.0f} ms")

    def summary(self) -> str:
        return "\n".join(f"  {phase:<10} {what:<28} {seconds * 1000:7.0f} ms" for what, phase, seconds in self.rows)


def await_inaccessible(
    env: Env, plane: DataPlane, account: str, probe: str, since: float, what: str, reason: str, timings: Timings
) -> None:
    """After a revocation that returned at ``since``: the data plane answers 403 CustomerManagedKeyInaccessible
    within REVOCATION_LIMIT_S, every data-plane call is refused, and ARM shows keyAccess Inaccessible/``reason``."""
    expected = plane.objects[probe]
    while True:
        response = plane.get(probe)
        elapsed = time.monotonic() - since
        if response.status_code == 403:
            assert error_code(response) == "CustomerManagedKeyInaccessible", (
                f"after {what}: expected 403 CustomerManagedKeyInaccessible, got {describe(response)}"
            )
            break
        assert response.status_code == 200 and response.content == expected.data, (
            f"after {what}: while the revocation is not yet seen, {probe!r} should still read back intact; "
            f"got {describe(response)}"
        )
        assert elapsed < OBSERVE_LIMIT_S, (
            f"after {what}: {probe!r} was still readable {elapsed:.1f} s later; the account should answer "
            f"403 CustomerManagedKeyInaccessible within {REVOCATION_LIMIT_S} s"
        )
        time.sleep(REVOCATION_POLL_S)
    timings.add(what, "revoked", elapsed)
    assert elapsed <= REVOCATION_LIMIT_S, (
        f"after {what}: the data plane took {elapsed:.2f} s to refuse access (limit {REVOCATION_LIMIT_S} s)"
    )

    # Every data-plane call is refused, and nothing is written.
    for name in plane.objects:
        response = plane.get(name)
        assert response.status_code == 403 and error_code(response) == "CustomerManagedKeyInaccessible", (
            f"after {what}: reading {name!r} should be refused with 403 CustomerManagedKeyInaccessible: "
            f"{describe(response)}"
        )
    response = plane.head(probe)
    assert response.status_code == 403, f"after {what}: HEAD {probe!r} should answer 403: {describe(response)}"
    refused_name = f"refused/{uuid.uuid4().hex[:8]}.txt"
    response = plane.put_raw(refused_name, b"must not be stored", "text/plain")
    assert response.status_code == 403 and error_code(response) == "CustomerManagedKeyInaccessible", (
        f"after {what}: storing should be refused with 403 CustomerManagedKeyInaccessible: {describe(response)}"
    )
    response = plane.list()
    assert response.status_code == 403 and error_code(response) == "CustomerManagedKeyInaccessible", (
        f"after {what}: listing should be refused with 403 CustomerManagedKeyInaccessible: {describe(response)}"
    )

    # ARM tells why.
    deadline = time.monotonic() + ARM_STATE_GRACE_S
    while True:
        encryption = env.encryption(account)
        access = encryption.get("keyAccess") or {}
        if access.get("state") == "Inaccessible" or time.monotonic() > deadline:
            break
        time.sleep(RECOVERY_POLL_S)
    assert access.get("state") == "Inaccessible", (
        f"after {what}: properties.encryption.keyAccess should be Inaccessible, got {encryption}"
    )
    assert access.get("reason") == reason, (
        f"after {what}: properties.encryption.keyAccess.reason should be {reason!r}, got {access}"
    )
    assert encryption.get("keySource") == CUSTOMER_KEYS, (
        f"after {what}: the account should keep its customer-managed key configuration, got {encryption}"
    )
    # The refused write must leave nothing behind (checked once access is back).
    plane.refused.append(refused_name)


def await_accessible(
    env: Env, plane: DataPlane, account: str, probe: str, since: float, what: str, timings: Timings
) -> None:
    """After access came back at ``since``: within RECOVERY_LIMIT_S every object reads back byte-identical and
    ARM shows keyAccess Accessible."""
    deadline = since + RECOVERY_LIMIT_S
    while True:
        response = plane.get(probe)
        elapsed = time.monotonic() - since
        if response.status_code == 200:
            break
        assert response.status_code == 403 and error_code(response) == "CustomerManagedKeyInaccessible", (
            f"after {what}: while recovering, expected 200 or 403 CustomerManagedKeyInaccessible, "
            f"got {describe(response)}"
        )
        assert time.monotonic() < deadline, (
            f"after {what}: the account did not recover within {RECOVERY_LIMIT_S} s "
            f"(still {describe(response)}); ARM says {env.encryption(account).get('keyAccess')}"
        )
        time.sleep(RECOVERY_POLL_S)
    timings.add(what, "recovered", elapsed)
    plane.assert_all_readable(f"after {what}")
    for name in plane.refused:
        response = plane.get(name)
        assert response.status_code == 404 and error_code(response) == "ContentNotFound", (
            f"after {what}: {name!r}, whose PUT was refused while the key was inaccessible, should not exist: "
            f"{describe(response)}"
        )
    while True:
        encryption = env.encryption(account)
        access = encryption.get("keyAccess") or {}
        if access.get("state") == "Accessible" or time.monotonic() > deadline + ARM_STATE_GRACE_S:
            break
        time.sleep(RECOVERY_POLL_S)
    assert access.get("state") == "Accessible", (
        f"after {what}: properties.encryption.keyAccess should be Accessible again, got {encryption}"
    )


# --- managed identity ----------------------------------------------------------------------


def managed_identity_info(cmk, resource_id: str, principal_id: str) -> dict:
    """The identity's endpoint and secret, as an operator reads them."""
    info = admin_get(cmk, "/managedIdentities", {"resourceId": resource_id})
    assert (info.get("resourceId") or "").lower() == resource_id.lower(), info
    assert info.get("principalId") == principal_id, (
        f"admin managedIdentities principalId {info.get('principalId')!r}, the account says {principal_id!r}"
    )
    assert info.get("tenantId") == cmk.tenant_id, info
    for key in ("clientId", "identityEndpoint", "identityHeader", "imdsAuthorityHost"):
        assert info.get(key), f"admin managedIdentities answer lacks {key}: {sorted(info)}"
    return info


def assert_identity_token(token: str, info: dict, cmk, resource_id: str, scope: str, protocol: str) -> None:
    claims = jwt_claims(token)
    assert (claims.get("xms_mirid") or "").lower() == resource_id.lower(), (
        f"{protocol}: token xms_mirid {claims.get('xms_mirid')!r} should name the account {resource_id!r}"
    )
    assert claims.get("oid") == info["principalId"], (
        f"{protocol}: token oid {claims.get('oid')!r} should be the identity's principal id {info['principalId']!r}"
    )
    assert claims.get("tid") == cmk.tenant_id, f"{protocol}: token tid {claims.get('tid')!r}"
    assert info["clientId"] in (claims.get("appid"), claims.get("azp")), (
        f"{protocol}: token appid/azp {claims.get('appid')!r}/{claims.get('azp')!r}, identity clientId "
        f"{info['clientId']!r}"
    )
    assert str(claims.get("appidacr")) == "2", f"{protocol}: token appidacr {claims.get('appidacr')!r}, expected 2"
    audiences = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    assert [str(a).rstrip("/") for a in audiences] == [resource_of(scope)], (
        f"{protocol}: token aud {claims.get('aud')!r}, asked for {scope!r}"
    )


def use_app_service_identity(mp: pytest.MonkeyPatch, info: dict) -> None:
    clear_managed_identity_env(mp)
    mp.setenv("IDENTITY_ENDPOINT", info["identityEndpoint"])
    mp.setenv("IDENTITY_HEADER", info["identityHeader"])


def use_imds_identity(mp: pytest.MonkeyPatch, info: dict) -> None:
    clear_managed_identity_env(mp)
    mp.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", info["imdsAuthorityHost"])


def identity_credential(env: Env) -> ManagedIdentityCredential:
    """ManagedIdentityCredential as a workload would make it; the environment picks the protocol."""
    return env.keep(ManagedIdentityCredential(**env.cmk.client_kwargs()))


# --- the scenario --------------------------------------------------------------------------


def test_customer_managed_key_lifecycle(cmk, env, monkeypatch, record_property):
    """An E0 account from creation to deletion: platform keys, identity, access, customer key on, rotation,
    four kinds of revocation each followed by recovery, back to platform keys."""
    timings = Timings(record_property)

    # 1. An E0 account with Microsoft-managed keys, and content stored under them.
    account = env.create_account("lifecycle")
    name, resource_id = account.name, account.id
    assert account.identity is None or plain(account.identity.type) in (None, "None"), (
        f"a new account has no identity unless asked: {account.identity.as_dict()}"
    )
    plane = env.data_plane(account)
    plane.put("before/hello.txt", b"stored under Microsoft-managed keys\n", "text/plain; charset=utf-8")
    plane.put("before/large.bin", os.urandom(3 * MiB + 517))
    plane.assert_all_readable("under Microsoft-managed keys")

    # 2. The customer's vault (purge protection, same region and tenant) and an RSA-2048 key.
    vault = env.make_vault("cmk")
    keys = env.key_client(vault)
    key_name = unique("acct-key")
    key_v1 = keys.create_rsa_key(key_name, size=2048)
    assert key_v1.properties.version, key_v1.id

    # 3. The system-assigned identity; no access to the key yet.
    identity = env.enable_identity(name)
    principal_id = identity.principal_id
    env.assert_refused(name, "KeyVaultAccessDenied", vault.uri, key_name, key_v1.properties.version)

    # 4. The identity gets tokens the way Azure compute does, and is refused by the vault until granted.
    info = managed_identity_info(cmk, resource_id, principal_id)
    secret = os.urandom(32)
    wrapped = env.crypto_client(key_v1).wrap_key(WRAP, secret).encrypted_key
    with monkeypatch.context() as mp:
        use_app_service_identity(mp, info)
        credential = identity_credential(env)
        scope = vault_scope(cmk)
        assert_identity_token(credential.get_token(scope).token, info, cmk, resource_id, scope, "App Service")
        as_identity = env.key_client(vault, credential)
        with pytest.raises(HttpResponseError) as excinfo:
            as_identity.get_key(key_name)
        assert excinfo.value.status_code == 403, (
            f"before the grant the identity should be refused by the vault (403), got {excinfo.value}"
        )

        env.grant(vault, principal_id)

        key = as_identity.get_key(key_name)
        assert key.id == key_v1.id, f"the identity read {key.id!r}, expected {key_v1.id!r}"
        unwrapped = env.crypto_client(key.id, credential).unwrap_key(WRAP, wrapped).key
        assert unwrapped == secret, "the identity's unwrapKey did not give back what was wrapped"

    with monkeypatch.context() as mp:
        use_imds_identity(mp, info)
        credential = identity_credential(env)
        scope = vault_scope(cmk)
        assert_identity_token(credential.get_token(scope).token, info, cmk, resource_id, scope, "IMDS")
        assert env.key_client(vault, credential).get_key(key_name).id == key_v1.id, (
            "a KeyClient with the IMDS-protocol credential should read the key"
        )

    # 5. Customer-managed keys on, pinned to version 1.
    switched = env.customer_keys(name, vault.uri, key_name, key_v1.properties.version)
    assert plain(switched.properties.encryption.key_source) == CUSTOMER_KEYS, switched.properties.encryption.as_dict()
    encryption = env.encryption(name)
    assert encryption.get("keySource") == CUSTOMER_KEYS, encryption
    kvp = encryption.get("keyVaultProperties") or {}
    assert kvp.get("keyName") == key_name and kvp.get("keyVersion") == key_v1.properties.version, kvp
    assert (kvp.get("keyVaultUri") or "").rstrip("/").lower() == vault.url.lower(), kvp
    assert kvp.get("currentVersionedKeyIdentifier") == key_v1.id, (
        f"currentVersionedKeyIdentifier should be the key version that wraps the data key ({key_v1.id!r}): {kvp}"
    )
    assert (encryption.get("keyAccess") or {}).get("state") == "Accessible", encryption

    # 6. Content stored before and after the switch reads back intact.
    plane.assert_all_readable("after switching customer-managed keys on")
    plane.put("before/hello.txt", b"replaced under the customer's key\n", "text/plain; charset=utf-8")
    plane.put("after/one-chunk.bin", os.urandom(MiB))
    plane.put("after/nested/dir/sample.json", json.dumps({"n": list(range(3000))}).encode(), "application/json")
    plane.put("after/large.bin", os.urandom(3 * MiB + MiB // 2 + 3))
    plane.assert_all_readable("under the customer's key")

    # 7. Rotation: a new key version, the account moved to it explicitly.
    key_v2 = keys.rotate_key(key_name)
    assert key_v2.properties.version and key_v2.properties.version != key_v1.properties.version, key_v2.id
    env.customer_keys(name, vault.uri, key_name, key_v2.properties.version)
    kvp = env.encryption(name).get("keyVaultProperties") or {}
    assert kvp.get("keyVersion") == key_v2.properties.version, kvp
    assert kvp.get("currentVersionedKeyIdentifier") == key_v2.id, (
        f"after the rotation the data key should be wrapped by {key_v2.id!r}: {kvp}"
    )
    plane.assert_all_readable("after rotating the key")
    plane.put("rotated/note.txt", b"stored after the rotation\n", "text/plain")
    plane.assert_all_readable("after rotating the key")

    # 7b. Beyond rotation: every object re-encrypted under a new data key (wrapped by the customer's key), as a
    # background job with progress; content stays readable throughout and after.
    reencrypt(cmk, env, name)
    plane.assert_all_readable("after re-encrypting the content under a new data key")

    probe = "before/hello.txt"

    # 8a. Revocation by access policy.
    env.revoke(vault, principal_id)
    await_inaccessible(env, plane, name, probe, time.monotonic(), "access policy removal", "AccessDenied", timings)
    env.grant(vault, principal_id)
    await_accessible(env, plane, name, probe, time.monotonic(), "access policy removal", timings)

    # 8b. Revocation by disabling the key version in use.
    keys.update_key_properties(key_name, key_v2.properties.version, enabled=False)
    await_inaccessible(env, plane, name, probe, time.monotonic(), "key disable", "KeyDisabled", timings)
    keys.update_key_properties(key_name, key_v2.properties.version, enabled=True)
    await_accessible(env, plane, name, probe, time.monotonic(), "key disable", timings)

    # 8c. Revocation by deleting the key (soft delete), recovery by recovering it.
    delete_poller = keys.begin_delete_key(key_name)
    await_inaccessible(env, plane, name, probe, time.monotonic(), "key delete", "KeyNotFound", timings)
    delete_poller.wait(timeout=30)
    assert delete_poller.done(), "begin_delete_key did not finish within 30 s"
    recover_poller = keys.begin_recover_deleted_key(key_name)
    recovered_at = time.monotonic()
    recover_poller.wait(timeout=30)
    assert recover_poller.done(), "begin_recover_deleted_key did not finish within 30 s"
    await_accessible(env, plane, name, probe, recovered_at, "key delete", timings)

    # 8d. Revocation by disabling the identity; a new identity gets a new principal, which is granted access.
    disabled = env.update(name, Account(identity=Identity(type="None")), "disabling the identity")
    await_inaccessible(env, plane, name, probe, time.monotonic(), "identity disable", "IdentityDisabled", timings)
    assert disabled.identity is None or plain(disabled.identity.type) == "None", disabled.identity.as_dict()
    identity = env.enable_identity(name)
    assert identity.principal_id != principal_id, (
        "enabling the identity again should register a new principal (a new principalId)"
    )
    principal_id = identity.principal_id
    assert managed_identity_info(cmk, resource_id, principal_id)["principalId"] == principal_id
    env.grant(vault, principal_id)
    await_accessible(env, plane, name, probe, time.monotonic(), "identity disable", timings)

    # 9. Back to Microsoft-managed keys: the content no longer depends on the vault.
    back = env.platform_keys(name)
    assert plain(back.properties.encryption.key_source) == PLATFORM_KEYS, back.properties.encryption.as_dict()
    assert env.key_source(name) == PLATFORM_KEYS
    plane.assert_all_readable("after switching back to Microsoft-managed keys")
    env.revoke(vault, principal_id)
    time.sleep(REVOCATION_LIMIT_S + 0.5)
    plane.assert_all_readable("under Microsoft-managed keys, after the identity lost access to the vault")

    # 10. Delete the account.
    timed("deleting the account", lambda: env.accounts.accounts.begin_delete(env.group, name).result())
    with pytest.raises(ResourceNotFoundError):
        env.accounts.accounts.get(env.group, name)
    deleted = env.accounts.deleted_accounts.get(env.location, env.group, name)
    assert deleted.name == name, f"the deleted account should be listed as deleted: {deleted.as_dict()}"

    print("[cmk accounts] revocation and recovery latencies:\n" + timings.summary())


# --- refusals ------------------------------------------------------------------------------


def test_customer_managed_key_on_creation_is_refused(env):
    vault = env.make_vault("oncreate")
    key = env.key_client(vault).create_rsa_key(unique("k"), size=2048)
    name = unique("oncreate")
    body = Account(
        location=env.location,
        kind=KIND,
        sku=AccountSku(name="E0"),
        identity=Identity(type="SystemAssigned"),
        properties=AccountProperties(
            custom_sub_domain_name=f"compat-{name}",
            encryption=Encryption(
                key_source=CUSTOMER_KEYS,
                key_vault_properties=KeyVaultProperties(
                    key_name=key.name, key_version=key.properties.version, key_vault_uri=vault.uri
                ),
            ),
        ),
    )

    with pytest.raises(HttpResponseError) as excinfo:
        env.accounts.accounts.begin_create(env.group, name, body).result()

    assert_arm_error(excinfo.value, 400, "CustomerManagedKeyNotAllowedOnCreate")
    with pytest.raises(ResourceNotFoundError):
        env.accounts.accounts.get(env.group, name)


def test_customer_managed_key_requires_e0_sku(env):
    vault = env.make_vault("s0")
    key = env.key_client(vault).create_rsa_key(unique("k"), size=2048)
    account = env.create_account("s0", sku="S0")

    env.assert_refused(account.name, "CustomerManagedKeyRequiresE0Sku", vault.uri, key.name, key.properties.version)


def test_switching_customer_managed_keys_on_checks_each_rule(cmk, env):
    """Each rule of docs/accounts.md is the one that refuses when only it is broken; then the switch succeeds.

    The key rules (exists and enabled, RSA-2048) are checked with the identity allowed on the vault, so the
    answer does not depend on whether the service reads the key with the identity's token or otherwise; the
    access rule is checked with the one good key, before and after a partial grant. UnsupportedKeyType is not
    reachable here: cmk's vaults make RSA keys only.
    """
    vault = env.make_vault("rules")
    keys = env.key_client(vault)
    good = keys.create_rsa_key(unique("good"), size=2048)
    disabled = keys.create_rsa_key(unique("off"), size=2048, enabled=False)
    rsa3072 = keys.create_rsa_key(unique("rsa3072"), size=3072)
    no_purge = env.make_vault("nopurge", purge_protection=False)
    no_purge_key = env.key_client(no_purge).create_rsa_key(unique("k"), size=2048)
    elsewhere = env.make_vault("region", location=OTHER_LOCATION)
    elsewhere_key = env.key_client(elsewhere).create_rsa_key(unique("k"), size=2048)
    account = env.create_account("rules")
    name, version = account.name, good.properties.version

    # Rules about the request and the account.
    env.assert_refused(name, "InvalidKeyVaultProperties", vault.uri, None, version)
    env.assert_refused(name, "InvalidKeyVaultProperties", "not a vault uri", good.name, version)
    env.assert_refused(name, "IdentityNotEnabled", vault.uri, good.name, version)

    principal_id = env.enable_identity(name).principal_id

    # Rules about the vault.
    env.assert_refused(name, "KeyVaultNotFound", expected_vault_uri(cmk, unique("absent")), good.name, version)
    env.assert_refused(
        name, "KeyVaultInOtherRegion", elsewhere.uri, elsewhere_key.name, elsewhere_key.properties.version
    )

    # The identity's access: none, then get and wrapKey without unwrapKey.
    env.assert_refused(name, "KeyVaultAccessDenied", vault.uri, good.name, version)
    env.set_identity_access(vault, principal_id, "add", ["get", "wrapKey"])
    env.assert_refused(name, "KeyVaultAccessDenied", vault.uri, good.name, version)
    env.grant(vault, principal_id)

    # Purge protection shows in a key's recovery level, which the identity reads once it may get the key.
    env.grant(no_purge, principal_id)
    env.assert_refused(
        name, "KeyVaultPurgeProtectionRequired", no_purge.uri, no_purge_key.name, no_purge_key.properties.version
    )

    # Rules about the key.
    env.assert_refused(name, "KeyNotFound", vault.uri, unique("absent"), "")
    env.assert_refused(name, "KeyDisabled", vault.uri, disabled.name, disabled.properties.version)
    env.assert_refused(name, "UnsupportedKeySize", vault.uri, rsa3072.name, rsa3072.properties.version)

    switched = env.customer_keys(name, vault.uri, good.name, version)

    assert plain(switched.properties.encryption.key_source) == CUSTOMER_KEYS
    assert env.key_source(name) == CUSTOMER_KEYS


# --- data plane ----------------------------------------------------------------------------


def test_account_data_plane_basics(cmk, env):
    """Store, read, replace, list and delete content with a key; a bearer token works too; refusals."""
    account = env.create_account("data", sku="S0")
    plane = env.data_plane(account)

    plane.put("empty", b"", "application/octet-stream")
    plane.put("docs/a.txt", b"first\n", "text/plain")
    plane.put("docs/a.txt", b"second, longer\n", "text/plain")
    plane.put("docs/b.json", b'{"b": 1}', "application/json")
    plane.assert_all_readable("with Ocp-Apim-Subscription-Key")

    head = plane.head("docs/b.json")
    assert head.status_code == 200, describe(head)
    assert head.headers.get("Content-Length") == "8" and head.headers.get("Content-Type") == "application/json"

    listed = plane.list(prefix="docs/")
    assert listed.status_code == 200, describe(listed)
    assert sorted(item["name"] for item in listed.json()["value"]) == ["docs/a.txt", "docs/b.json"], listed.text

    missing = plane.get("docs/missing")
    assert missing.status_code == 404 and error_code(missing) == "ContentNotFound", describe(missing)

    deleted = plane.delete("docs/b.json")
    assert deleted.status_code == 204, describe(deleted)
    gone = plane.get("docs/b.json")
    assert gone.status_code == 404 and error_code(gone) == "ContentNotFound", describe(gone)
    del plane.objects["docs/b.json"]

    # A bearer token needs a data role on the account: owning the subscription grants no data access.
    token = cmk.credential().get_token(cognitive_services_scope(cmk)).token
    read_with_token = lambda: requests.get(  # noqa: E731
        plane.url("docs/a.txt"), headers={"Authorization": f"Bearer {token}"}, verify=cmk.ca_file, timeout=30
    )
    refused = read_with_token()
    assert refused.status_code == 403 and error_code(refused) == "PermissionDenied", describe(refused)
    cmk.assign_role(env.account_id(account.name), "Cognitive Services User", env.operator_oid)
    with_token = read_with_token()
    assert with_token.status_code == 200 and with_token.content == b"second, longer\n", describe(with_token)

    anonymous = requests.get(plane.url("docs/a.txt"), verify=cmk.ca_file, timeout=30)
    assert anonymous.status_code == 401 and error_code(anonymous) == "Unauthorized", describe(anonymous)
    wrong_key = requests.get(
        plane.url("docs/a.txt"), headers={"Ocp-Apim-Subscription-Key": "0" * 32}, verify=cmk.ca_file, timeout=30
    )
    assert wrong_key.status_code == 401 and error_code(wrong_key) == "Unauthorized", describe(wrong_key)


def test_customer_managed_key_on_a_vault_that_uses_azure_rbac(cmk, env, record_property):
    """The CMK story on a vault that authorizes with Azure RBAC, the role assignments made with the unmodified
    azure-mgmt-authorization: the identity is refused until it holds a role, gets Key Vault Crypto Service
    Encryption User on the key, CMK switches on; deleting that role assignment makes every read fail within a
    second, and assigning the role again brings every byte back."""
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    timings = Timings(record_property)
    auth = cmk.authorization()

    name = unique("rbac")
    created = timed(
        f"creating vault {name}",
        lambda: env.kv_mgmt.vaults.begin_create_or_update(
            env.group,
            name,
            VaultCreateOrUpdateParameters(
                location=env.location,
                properties=VaultProperties(
                    tenant_id=cmk.tenant_id,
                    sku=VaultSku(family="A", name="standard"),
                    enable_rbac_authorization=True,
                    enable_soft_delete=True,
                    soft_delete_retention_in_days=RETENTION_DAYS,
                    enable_purge_protection=True,
                ),
            ),
        ).result(),
    )
    assert created.properties.enable_rbac_authorization is True
    vault = Vault(name=name, uri=created.properties.vault_uri)

    def assign(scope: str, role_name: str, principal_id: str):
        # As az resolves a role: by name, at the scope of the assignment.
        found = list(auth.role_definitions.list(scope, filter=f"roleName eq '{role_name}'"))
        assert [r.role_name for r in found] == [role_name], [r.as_dict() for r in found]
        return auth.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(
                role_definition_id=found[0].id, principal_id=principal_id, principal_type="ServicePrincipal"
            ),
        )

    # Owning the subscription grants no key access: the operator takes Key Vault Crypto Officer to make the key.
    with pytest.raises(HttpResponseError) as excinfo:
        env.key_client(vault).create_rsa_key("cmk", size=2048)
    assert excinfo.value.status_code == 403
    assign(created.id, "Key Vault Crypto Officer", env.operator_oid)
    env.key_client(vault).create_rsa_key("cmk", size=2048)

    account = env.create_account("rbac")
    identity = env.enable_identity(account.name)
    env.assert_refused(account.name, "KeyVaultAccessDenied", vault.uri, "cmk")

    key_scope = f"{created.id}/keys/cmk"
    granted = assign(key_scope, "Key Vault Crypto Service Encryption User", identity.principal_id)
    assert granted.scope.lower() == key_scope.lower() and granted.principal_type == "ServicePrincipal"
    at_key = list(auth.role_assignments.list_for_scope(key_scope, filter="atScope()"))
    assert granted.id in [a.id for a in at_key], [a.as_dict() for a in at_key]

    env.customer_keys(account.name, vault.uri, "cmk")
    assert (env.encryption(account.name).get("keyAccess") or {}).get("state") == "Accessible"
    plane = env.data_plane(account)
    plane.put("docs/rbac.txt", b"under a key of an RBAC vault\n", "text/plain")
    plane.put("data/big.bin", os.urandom(MiB + 11))
    plane.assert_all_readable("under the customer's key")

    # Revocation: delete the identity's role assignment.
    auth.role_assignments.delete(key_scope, granted.name)
    since = time.monotonic()
    await_inaccessible(env, plane, account.name, "docs/rbac.txt", since, "role assignment deleted", "AccessDenied", timings)

    # Recovery: the role again, on the whole vault this time.
    assign(created.id, "Key Vault Crypto Service Encryption User", identity.principal_id)
    since = time.monotonic()
    await_accessible(env, plane, account.name, "docs/rbac.txt", since, "role assignment deleted", timings)
    print(timings.summary())
