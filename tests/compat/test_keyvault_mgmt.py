"""Microsoft.KeyVault/vaults on the management plane, driven by the unmodified
azure-mgmt-keyvault: create, read, list, patch, access policies, name checks, soft
delete, recover and purge, and the refusals a user runs into.

azure-mgmt-keyvault 14.x is generated from TypeSpec: a plain dict passed as a request
body is sent as it is, so dicts must use the wire (camelCase) names. These tests build
bodies from the model classes, as a user would, plus one plain-dict create.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from enum import Enum
from typing import Any, Optional
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import (
    AccessPolicyEntry,
    Permissions,
    Sku,
    VaultAccessPolicyParameters,
    VaultAccessPolicyProperties,
    VaultCheckNameAvailabilityParameters,
    VaultCreateOrUpdateParameters,
    VaultPatchParameters,
    VaultPatchProperties,
    VaultProperties,
)
from azure.mgmt.resource.resources import ResourceManagementClient

LOCATION = "westus2"
RETENTION_DAYS = 7
VAULT_TYPE = "Microsoft.KeyVault/vaults"
# Every vault operation must answer synchronously; azure-mgmt-core would sleep 30 s
# per poll otherwise.
SYNC_TIME_LIMIT_S = 10.0
KEY_PERMISSIONS = ["get", "wrapKey", "unwrapKey"]


# --- helpers -------------------------------------------------------------------------------


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, decoded without verifying the signature."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def new_vault_name(tag: str) -> str:
    """A vault name unique to this run: a letter first, 3-24 letters, digits and hyphens."""
    return f"{tag[:10]}-{uuid.uuid4().hex[:12]}"


class ResponseLog:
    """A raw_response_hook that records (method, path, status) of every response of a call."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, int]] = []

    def __call__(self, pipeline_response: Any) -> None:
        request = pipeline_response.http_request
        self.entries.append(
            (request.method, urlsplit(request.url).path, pipeline_response.http_response.status_code)
        )

    @property
    def statuses(self) -> list[int]:
        return [status for _, _, status in self.entries]


def key_permissions(*names: str) -> Permissions:
    return Permissions(keys_property=list(names))


def policy(tenant_id: str, object_id: str, permissions: Permissions) -> AccessPolicyEntry:
    return AccessPolicyEntry(tenant_id=tenant_id, object_id=object_id, permissions=permissions)


def vault_properties(cmk, object_id: str, **overrides: Any) -> VaultProperties:
    """The properties of the contract's standard vault (purge protection, 7 retention days)."""
    values: dict[str, Any] = {
        "tenant_id": cmk.tenant_id,
        "sku": Sku(family="A", name="standard"),
        "access_policies": [policy(cmk.tenant_id, object_id, key_permissions(*KEY_PERMISSIONS))],
        # From API version 2026-02-01 a vault that does not say uses Azure RBAC; these test access policies.
        "enable_rbac_authorization": False,
        "enable_soft_delete": True,
        "soft_delete_retention_in_days": RETENTION_DAYS,
        "enable_purge_protection": True,
    }
    values.update(overrides)
    return VaultProperties(**{k: v for k, v in values.items() if v is not None})


def create_params(cmk, object_id: str, *, tags: Optional[dict] = None, **overrides: Any) -> VaultCreateOrUpdateParameters:
    """A create body; a property overridden with None is left out of the body."""
    return VaultCreateOrUpdateParameters(
        location=LOCATION, tags=tags, properties=vault_properties(cmk, object_id, **overrides)
    )


def plain(values: Optional[list]) -> list[str]:
    """Permission names as plain strings (the SDK turns known names into str enums)."""
    return [v.value if isinstance(v, Enum) else v for v in values or []]


def permission_sets(permissions: Optional[Permissions]) -> dict[str, set[str]]:
    """Non-empty permission lists of an entry, as sets (order on the wire is not a contract)."""
    if permissions is None:
        return {}
    # Permissions is a Mapping: its .keys is the mapping method; the "keys" list is .keys_property.
    lists = {
        "keys": plain(permissions.keys_property),
        "secrets": plain(permissions.secrets),
        "certificates": plain(permissions.certificates),
        "storage": plain(permissions.storage),
    }
    for kind, values in lists.items():
        assert len(values) == len(set(values)), f"duplicate {kind} permissions: {values}"
    return {kind: set(values) for kind, values in lists.items() if values}


def policy_table(entries: Optional[list[AccessPolicyEntry]]) -> dict[tuple, dict[str, set[str]]]:
    """Access policies keyed by (tenant, object, application), each at most once."""
    table: dict[tuple, dict[str, set[str]]] = {}
    for entry in entries or []:
        key = (entry.tenant_id, entry.object_id, entry.application_id)
        assert key not in table, f"access policy for {key} listed twice"
        table[key] = permission_sets(entry.permissions)
    return table


def expected_vault_uri(cmk, name: str) -> str:
    port = urlsplit(cmk.url).port
    host = f"{name}{cmk.vault_dns_suffix}"
    return f"https://{host}/" if port in (None, 443) else f"https://{host}:{port}/"


def vault_id(cmk, rg: str, name: str) -> str:
    return f"/subscriptions/{cmk.subscription_id}/resourceGroups/{rg}/providers/{VAULT_TYPE}/{name}"


def assert_error(exc: HttpResponseError, status: int, code: str) -> None:
    assert exc.status_code == status, f"expected {status} {code}, got {exc.status_code}: {exc}"
    assert exc.error is not None, f"no ARM error body: {exc}"
    assert exc.error.code == code, f"expected code {code!r}, got {exc.error.code!r}: {exc.error.message}"


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def principal_oid(cmk) -> str:
    """The object id of the dev service principal, from the oid claim of its management token."""
    token = cmk.credential().get_token(cmk.management_scope).token
    oid = jwt_claims(token).get("oid")
    assert oid, "the management token carries no oid claim"
    return oid


@pytest.fixture(scope="module")
def kv(cmk) -> KeyVaultManagementClient:
    return cmk.management_client(KeyVaultManagementClient)


@pytest.fixture(scope="module")
def resources(cmk) -> ResourceManagementClient:
    return cmk.management_client(ResourceManagementClient)


@pytest.fixture
def group(resources, rg_name) -> str:
    """A fresh resource group (in LOCATION) for this test's vaults."""
    resources.resource_groups.create_or_update(rg_name, {"location": LOCATION})
    return rg_name


def create_vault(kv, group: str, name: str, params) -> Any:
    """begin_create_or_update(...).result(), which must finish without polling."""
    started = time.monotonic()
    vault = kv.vaults.begin_create_or_update(group, name, params).result()
    elapsed = time.monotonic() - started
    assert elapsed < SYNC_TIME_LIMIT_S, (
        f"begin_create_or_update(...).result() took {elapsed:.1f} s; the PUT should answer "
        "200/201 with provisioningState Succeeded"
    )
    return vault


@pytest.fixture
def vault(cmk, kv, group, principal_oid):
    """A standard vault (purge protection, 7 days retention, one key policy) in ``group``."""
    name = new_vault_name("kv")
    return create_vault(kv, group, name, create_params(cmk, principal_oid))


# --- create, read, list, update ------------------------------------------------------------


def assert_standard_vault(vault, cmk, group: str, name: str, object_id: str) -> None:
    assert vault.id == vault_id(cmk, group, name)
    assert vault.name == name
    assert vault.type == VAULT_TYPE
    assert vault.location == LOCATION
    props = vault.properties
    assert props.provisioning_state == "Succeeded"
    assert props.tenant_id == cmk.tenant_id
    assert props.sku.family == "A" and props.sku.name == "standard"
    assert props.vault_uri == expected_vault_uri(cmk, name)
    assert props.enable_soft_delete is True
    assert props.soft_delete_retention_in_days == RETENTION_DAYS
    assert props.enable_purge_protection is True
    assert policy_table(props.access_policies) == {
        (cmk.tenant_id, object_id, None): {"keys": set(KEY_PERMISSIONS)}
    }
    # Canonical spelling, exactly as sent.
    assert sorted(plain(props.access_policies[0].permissions.keys_property)) == sorted(KEY_PERMISSIONS)


def test_create_vault_answers_201_succeeded_without_polling(cmk, kv, group, principal_oid):
    name = new_vault_name("create")
    log = ResponseLog()

    started = time.monotonic()
    poller = kv.vaults.begin_create_or_update(group, name, create_params(cmk, principal_oid), raw_response_hook=log)
    vault = poller.result()
    elapsed = time.monotonic() - started

    assert elapsed < SYNC_TIME_LIMIT_S
    assert poller.status().lower() == "succeeded"
    assert log.statuses == [201], f"expected one synchronous 201, got {log.entries}"
    assert log.entries[0][0] == "PUT"
    assert_standard_vault(vault, cmk, group, name, principal_oid)


def test_create_vault_from_plain_dict_with_wire_names(cmk, kv, group, principal_oid):
    name = new_vault_name("dict")
    body = {
        "location": LOCATION,
        "properties": {
            "tenantId": cmk.tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [
                {
                    "tenantId": cmk.tenant_id,
                    "objectId": principal_oid,
                    "permissions": {"keys": KEY_PERMISSIONS},
                }
            ],
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": RETENTION_DAYS,
            "enablePurgeProtection": True,
        },
    }

    vault = create_vault(kv, group, name, body)

    assert_standard_vault(vault, cmk, group, name, principal_oid)


def test_put_on_existing_vault_answers_200_and_updates_it(cmk, kv, group, principal_oid, vault):
    log = ResponseLog()
    params = create_params(cmk, principal_oid, tags={"env": "test"})

    updated = kv.vaults.begin_create_or_update(group, vault.name, params, raw_response_hook=log).result()

    assert log.statuses == [200], f"expected one synchronous 200, got {log.entries}"
    assert_standard_vault(updated, cmk, group, vault.name, principal_oid)
    assert updated.tags == {"env": "test"}
    assert kv.vaults.get(group, vault.name).tags == {"env": "test"}


def test_get_returns_the_created_vault(cmk, kv, group, principal_oid, vault):
    got = kv.vaults.get(group, vault.name)

    assert_standard_vault(got, cmk, group, vault.name, principal_oid)


def test_vault_is_listed_by_resource_group_and_subscription(cmk, kv, group, principal_oid, vault):
    by_group = {v.name: v for v in kv.vaults.list_by_resource_group(group)}
    by_subscription = {v.name: v for v in kv.vaults.list_by_subscription()}

    assert set(by_group) == {vault.name}
    assert_standard_vault(by_group[vault.name], cmk, group, vault.name, principal_oid)
    assert vault.name in by_subscription
    assert_standard_vault(by_subscription[vault.name], cmk, group, vault.name, principal_oid)


def test_patch_tags_changes_tags_and_keeps_everything_else(cmk, kv, group, principal_oid, vault):
    updated = kv.vaults.update(group, vault.name, VaultPatchParameters(tags={"owner": "compat", "env": "dev"}))

    assert updated.tags == {"owner": "compat", "env": "dev"}
    assert_standard_vault(updated, cmk, group, vault.name, principal_oid)
    got = kv.vaults.get(group, vault.name)
    assert got.tags == {"owner": "compat", "env": "dev"}
    assert_standard_vault(got, cmk, group, vault.name, principal_oid)


def test_get_of_missing_vault_is_resource_not_found(kv, group):
    with pytest.raises(ResourceNotFoundError) as excinfo:
        kv.vaults.get(group, new_vault_name("missing"))

    assert_error(excinfo.value, 404, "ResourceNotFound")


# --- refusals ------------------------------------------------------------------------------


def test_create_with_purge_protection_false_is_refused(cmk, kv, group, principal_oid):
    name = new_vault_name("nopurge")

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(
            group, name, create_params(cmk, principal_oid, enable_purge_protection=False)
        ).result()

    assert_error(excinfo.value, 400, "BadRequest")
    assert "cannot be set to false" in excinfo.value.error.message
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get(group, name)


def test_create_with_soft_delete_false_is_refused(cmk, kv, group, principal_oid):
    name = new_vault_name("nosoft")

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(
            group,
            name,
            create_params(cmk, principal_oid, enable_soft_delete=False, enable_purge_protection=None),
        ).result()

    assert_error(excinfo.value, 400, "BadRequest")
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get(group, name)


@pytest.mark.parametrize("days", [6, 91])
def test_create_with_retention_out_of_range_is_refused(cmk, kv, group, principal_oid, days):
    name = new_vault_name("retain")

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(
            group, name, create_params(cmk, principal_oid, soft_delete_retention_in_days=days)
        ).result()

    assert_error(excinfo.value, 400, "BadRequest")
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get(group, name)


def test_a_vault_that_names_no_permission_model_uses_azure_rbac(cmk, kv, group, principal_oid):
    # The SDK speaks Key Vault API 2026-05-15: from 2026-02-01 on, Azure RBAC is the default of a new vault.
    name = new_vault_name("rbac")
    params = create_params(cmk, principal_oid, enable_rbac_authorization=None, access_policies=[])

    vault = kv.vaults.begin_create_or_update(group, name, params).result()

    assert vault.properties.enable_rbac_authorization is True
    assert kv.vaults.get(group, name).properties.enable_rbac_authorization is True
    # An owner may switch it to access policies, and back.
    params = create_params(cmk, principal_oid, enable_rbac_authorization=False)
    assert kv.vaults.begin_create_or_update(group, name, params).result().properties.enable_rbac_authorization is False


def test_put_turning_purge_protection_off_is_refused(cmk, kv, group, principal_oid, vault):
    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(
            group, vault.name, create_params(cmk, principal_oid, enable_purge_protection=False)
        ).result()

    assert_error(excinfo.value, 400, "BadRequest")
    assert "cannot be set to false" in excinfo.value.error.message
    assert kv.vaults.get(group, vault.name).properties.enable_purge_protection is True


def test_patch_turning_purge_protection_off_is_refused(kv, group, vault):
    patch = VaultPatchParameters(properties=VaultPatchProperties(enable_purge_protection=False))

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.update(group, vault.name, patch)

    assert_error(excinfo.value, 400, "BadRequest")
    assert "cannot be set to false" in excinfo.value.error.message
    assert kv.vaults.get(group, vault.name).properties.enable_purge_protection is True


def test_patch_turning_soft_delete_off_is_refused(kv, group, vault):
    patch = VaultPatchParameters(properties=VaultPatchProperties(enable_soft_delete=False))

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.update(group, vault.name, patch)

    assert_error(excinfo.value, 400, "BadRequest")
    assert kv.vaults.get(group, vault.name).properties.enable_soft_delete is True


def test_put_changing_retention_of_existing_vault_is_refused(cmk, kv, group, principal_oid, vault):
    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(
            group, vault.name, create_params(cmk, principal_oid, soft_delete_retention_in_days=30)
        ).result()

    assert_error(excinfo.value, 400, "BadRequest")
    assert kv.vaults.get(group, vault.name).properties.soft_delete_retention_in_days == RETENTION_DAYS


def test_patch_changing_retention_of_existing_vault_is_refused(kv, group, vault):
    patch = VaultPatchParameters(properties=VaultPatchProperties(soft_delete_retention_in_days=30))

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.update(group, vault.name, patch)

    assert_error(excinfo.value, 400, "BadRequest")
    assert kv.vaults.get(group, vault.name).properties.soft_delete_retention_in_days == RETENTION_DAYS


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a", id="too-short"),
        pytest.param("v" * 25, id="25-chars"),
        pytest.param("1abc", id="leading-digit"),
        pytest.param("ab--cd", id="double-hyphen"),
        pytest.param("abc-", id="trailing-hyphen"),
        pytest.param("ab_cd", id="underscore"),
    ],
)
def test_invalid_vault_name_is_refused(cmk, kv, group, principal_oid, name):
    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_create_or_update(group, name, create_params(cmk, principal_oid)).result()

    assert_error(excinfo.value, 400, "VaultNameNotValid")


def test_name_used_in_another_resource_group_is_refused(cmk, kv, resources, group, principal_oid, vault):
    other_group = f"{group}-b"
    resources.resource_groups.create_or_update(other_group, {"location": LOCATION})

    with pytest.raises(ResourceExistsError) as excinfo:
        kv.vaults.begin_create_or_update(other_group, vault.name, create_params(cmk, principal_oid)).result()

    assert_error(excinfo.value, 409, "VaultAlreadyExists")
    assert [v.name for v in kv.vaults.list_by_resource_group(other_group)] == []
    assert kv.vaults.get(group, vault.name).id == vault.id


# --- access policies -----------------------------------------------------------------------


def update_policies(kv, group: str, name: str, kind: str, entries: list[AccessPolicyEntry]):
    params = VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=entries))
    return kv.vaults.update_access_policy(group, name, kind, params)


def assert_policies_everywhere(kv, group: str, name: str, response, expected: dict) -> None:
    assert policy_table(response.properties.access_policies) == expected
    assert policy_table(kv.vaults.get(group, name).properties.access_policies) == expected


def test_access_policy_add_unions_permissions_and_adds_entries(cmk, kv, group, principal_oid, vault):
    tid, other = cmk.tenant_id, str(uuid.uuid4())

    response = update_policies(
        kv,
        group,
        vault.name,
        "add",
        [
            policy(tid, principal_oid, Permissions(keys_property=["get", "list"], secrets=["get"])),
            policy(tid, other, key_permissions("get")),
        ],
    )

    assert_policies_everywhere(
        kv,
        group,
        vault.name,
        response,
        {
            (tid, principal_oid, None): {"keys": {"get", "wrapKey", "unwrapKey", "list"}, "secrets": {"get"}},
            (tid, other, None): {"keys": {"get"}},
        },
    )


def test_access_policy_replace_overwrites_the_entry(cmk, kv, group, principal_oid, vault):
    tid, other = cmk.tenant_id, str(uuid.uuid4())
    update_policies(
        kv,
        group,
        vault.name,
        "add",
        [
            policy(tid, principal_oid, Permissions(secrets=["get"])),
            policy(tid, other, key_permissions("get")),
        ],
    )

    response = update_policies(kv, group, vault.name, "replace", [policy(tid, principal_oid, key_permissions("get"))])

    assert_policies_everywhere(
        kv,
        group,
        vault.name,
        response,
        {(tid, principal_oid, None): {"keys": {"get"}}, (tid, other, None): {"keys": {"get"}}},
    )


def test_access_policy_remove_subtracts_and_drops_empty_entries(cmk, kv, group, principal_oid, vault):
    tid, other = cmk.tenant_id, str(uuid.uuid4())
    update_policies(kv, group, vault.name, "add", [policy(tid, other, key_permissions("get", "list"))])

    response = update_policies(
        kv,
        group,
        vault.name,
        "remove",
        [
            policy(tid, principal_oid, key_permissions(*KEY_PERMISSIONS)),
            policy(tid, other, key_permissions("list")),
        ],
    )

    assert_policies_everywhere(kv, group, vault.name, response, {(tid, other, None): {"keys": {"get"}}})


# --- name availability ---------------------------------------------------------------------


def check_name(kv, name: str):
    return kv.vaults.check_name_availability(VaultCheckNameAvailabilityParameters(name=name, type=VAULT_TYPE))


def test_check_name_availability_of_a_free_name(kv):
    result = check_name(kv, new_vault_name("free"))

    assert result.name_available is True


def test_check_name_availability_of_a_used_name(kv, vault):
    result = check_name(kv, vault.name)

    assert result.name_available is False
    assert result.reason == "AlreadyExists"


def test_check_name_availability_accepts_a_plain_dict(kv, vault):
    result = kv.vaults.check_name_availability({"name": vault.name, "type": VAULT_TYPE})

    assert result.name_available is False
    assert result.reason == "AlreadyExists"


# --- soft delete, recover, purge -----------------------------------------------------------


def deleted_vault_in_list(kv, old_id: str):
    return [d for d in kv.vaults.list_deleted() if (d.properties.vault_id or "").lower() == old_id.lower()]


def test_delete_soft_deletes_the_vault(cmk, kv, group, vault):
    kv.vaults.delete(group, vault.name)

    with pytest.raises(ResourceNotFoundError) as excinfo:
        kv.vaults.get(group, vault.name)
    assert_error(excinfo.value, 404, "ResourceNotFound")
    assert vault.name not in {v.name for v in kv.vaults.list_by_resource_group(group)}

    deleted = kv.vaults.get_deleted(vault.name, LOCATION)
    assert deleted.name == vault.name
    assert deleted.type == "Microsoft.KeyVault/deletedVaults"
    props = deleted.properties
    assert props.vault_id == vault.id
    assert props.location == LOCATION
    assert props.purge_protection_enabled is True
    assert props.deletion_date is not None and props.deletion_date.tzinfo is not None
    assert abs(props.scheduled_purge_date - props.deletion_date - timedelta(days=RETENTION_DAYS)) < timedelta(minutes=1)

    listed = deleted_vault_in_list(kv, vault.id)
    assert len(listed) == 1 and listed[0].name == vault.name

    availability = check_name(kv, vault.name)
    assert availability.name_available is False
    assert availability.reason == "AlreadyExists"


def test_recreating_a_soft_deleted_name_is_a_conflict(cmk, kv, group, principal_oid, vault):
    kv.vaults.delete(group, vault.name)

    with pytest.raises(ResourceExistsError) as excinfo:
        kv.vaults.begin_create_or_update(group, vault.name, create_params(cmk, principal_oid)).result()

    assert_error(excinfo.value, 409, "ConflictError")
    assert "deleted state" in excinfo.value.error.message.lower()


def test_recover_brings_back_vault_with_its_access_policies(cmk, kv, group, principal_oid, vault):
    tid, other = cmk.tenant_id, str(uuid.uuid4())
    update_policies(kv, group, vault.name, "add", [policy(tid, other, Permissions(secrets=["get", "list"]))])
    kv.vaults.delete(group, vault.name)
    recover = VaultCreateOrUpdateParameters(
        location=LOCATION,
        properties=VaultProperties(tenant_id=tid, sku=Sku(family="A", name="standard"), create_mode="recover"),
    )

    recovered = create_vault(kv, group, vault.name, recover)

    expected = {
        (tid, principal_oid, None): {"keys": set(KEY_PERMISSIONS)},
        (tid, other, None): {"secrets": {"get", "list"}},
    }
    assert recovered.id == vault.id
    assert recovered.properties.provisioning_state == "Succeeded"
    assert policy_table(recovered.properties.access_policies) == expected
    got = kv.vaults.get(group, vault.name)
    assert policy_table(got.properties.access_policies) == expected
    assert got.properties.enable_purge_protection is True
    assert got.properties.soft_delete_retention_in_days == RETENTION_DAYS
    assert got.properties.vault_uri == expected_vault_uri(cmk, vault.name)
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get_deleted(vault.name, LOCATION)
    assert deleted_vault_in_list(kv, vault.id) == []


def test_purge_of_purge_protected_vault_is_refused(kv, group, vault):
    kv.vaults.delete(group, vault.name)

    with pytest.raises(HttpResponseError) as excinfo:
        kv.vaults.begin_purge_deleted(vault.name, LOCATION).result()

    assert_error(excinfo.value, 405, "MethodNotAllowed")
    assert kv.vaults.get_deleted(vault.name, LOCATION).properties.vault_id == vault.id


def test_vault_without_purge_protection_can_be_deleted_purged_and_reused(cmk, kv, group, principal_oid):
    name = new_vault_name("purge")
    created = create_vault(kv, group, name, create_params(cmk, principal_oid, enable_purge_protection=None))
    assert not created.properties.enable_purge_protection
    kv.vaults.delete(group, name)
    assert not kv.vaults.get_deleted(name, LOCATION).properties.purge_protection_enabled

    started = time.monotonic()
    result = kv.vaults.begin_purge_deleted(name, LOCATION).result()
    elapsed = time.monotonic() - started

    assert result is None
    assert elapsed < SYNC_TIME_LIMIT_S, f"begin_purge_deleted(...).result() took {elapsed:.1f} s"
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get_deleted(name, LOCATION)
    assert deleted_vault_in_list(kv, created.id) == []
    assert check_name(kv, name).name_available is True
    again = create_vault(kv, group, name, create_params(cmk, principal_oid))
    assert again.id == created.id
    assert again.properties.provisioning_state == "Succeeded"


# --- tenant isolation ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_tenant(cmk) -> dict:
    """A second tenant with a subscription and a service principal, made with the admin API."""
    token = cmk.credential().get_token(cmk.management_scope).token
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.verify = cmk.ca_file
    base = cmk.authority.rstrip("/") + "/cmk/admin/tenants"
    suffix = uuid.uuid4().hex[:8]
    try:
        response = session.post(base, json={"displayName": f"compat other {suffix}"}, timeout=10)
        assert response.status_code == 201, response.text
        tenant_id = response.json()["tenantId"]
        response = session.post(
            f"{base}/{tenant_id}/servicePrincipals", json={"displayName": f"compat other {suffix}"}, timeout=10
        )
        assert response.status_code == 201, response.text
        principal = response.json()
        response = session.post(
            f"{base}/{tenant_id}/subscriptions",
            json={"displayName": f"compat other {suffix}", "ownerObjectId": principal["objectId"]},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        subscription_id = response.json()["subscriptionId"]
    finally:
        session.close()
    return {
        "tenant_id": tenant_id,
        "subscription_id": subscription_id,
        "client_id": principal["clientId"],
        "client_secret": principal["clientSecret"],
    }


def test_principal_of_another_tenant_cannot_see_the_vaults(cmk, kv, group, vault, other_tenant):
    credential = cmk.credential(
        tenant_id=other_tenant["tenant_id"],
        client_id=other_tenant["client_id"],
        client_secret=other_tenant["client_secret"],
    )
    intruder = cmk.management_client(KeyVaultManagementClient, credential=credential)

    with pytest.raises(ClientAuthenticationError) as excinfo:
        intruder.vaults.get(group, vault.name)
    assert_error(excinfo.value, 401, "InvalidAuthenticationTokenTenant")
    with pytest.raises(ClientAuthenticationError) as excinfo:
        list(intruder.vaults.list_by_subscription())
    assert_error(excinfo.value, 401, "InvalidAuthenticationTokenTenant")

    own = cmk.management_client(
        KeyVaultManagementClient, credential=credential, subscription_id=other_tenant["subscription_id"]
    )
    assert vault.name not in {v.name for v in own.vaults.list_by_subscription()}
