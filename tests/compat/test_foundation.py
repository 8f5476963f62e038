"""Foundation: the directory issues tokens, ARM lists subscriptions and tenants, and
resource groups go through their whole life cycle - all through the unmodified SDKs."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import ResourceGroup
from azure.mgmt.resource.subscriptions import SubscriptionClient

LOCATION = "westeurope"
# azure-mgmt-core sleeps 30 s per poll when a long-running operation answers without
# Retry-After; a delete that behaves finishes in a fraction of that.
DELETE_TIME_LIMIT_S = 10.0


def jwt_parts(token: str) -> tuple[dict, dict]:
    """Header and payload of a JWT, decoded without verifying the signature."""
    segments = token.split(".")
    assert len(segments) == 3, f"access token is not a compact JWS (got {len(segments)} segments)"

    def decode(segment: str) -> dict:
        padded = segment + "=" * (-len(segment) % 4)
        return json.loads(base64.urlsafe_b64decode(padded))

    return decode(segments[0]), decode(segments[1])


def same_resource(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


# --- directory (ClientSecretCredential) ----------------------------------------------------


def test_client_secret_credential_gets_management_token(cmk):
    before = int(time.time())
    token = cmk.credential().get_token(cmk.management_scope)

    assert token.token
    assert token.expires_on > before
    header, claims = jwt_parts(token.token)
    assert header.get("alg"), header
    assert claims["tid"] == cmk.tenant_id
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert any(same_resource(aud, cmk.management_resource) for aud in audiences), (
        f"aud {claims['aud']!r} does not name {cmk.management_resource!r}"
    )
    assert cmk.client_id in (claims.get("appid"), claims.get("azp")), claims
    assert claims["exp"] > time.time()


def test_wrong_client_secret_is_refused(cmk):
    credential = cmk.credential(client_secret=cmk.client_secret + "-wrong")

    with pytest.raises(ClientAuthenticationError) as excinfo:
        credential.get_token(cmk.management_scope)

    message = str(excinfo.value)
    assert re.search(r"invalid_client|AADSTS\d+", message), message


def test_unknown_client_id_is_refused(cmk):
    credential = cmk.credential(client_id=str(uuid.uuid4()))

    with pytest.raises(ClientAuthenticationError):
        credential.get_token(cmk.management_scope)


def test_unknown_tenant_is_refused(cmk):
    credential = cmk.credential(tenant_id=str(uuid.uuid4()))

    with pytest.raises(ClientAuthenticationError):
        credential.get_token(cmk.management_scope)


# --- subscriptions and tenants (SubscriptionClient) ------------------------------------------


def test_subscription_list_is_exactly_the_dev_subscription(cmk):
    client = cmk.management_client(SubscriptionClient)

    subscriptions = list(client.subscriptions.list())

    assert [s.subscription_id for s in subscriptions] == [cmk.subscription_id]
    sub = subscriptions[0]
    assert sub.id == f"/subscriptions/{cmk.subscription_id}"
    assert sub.tenant_id == cmk.tenant_id
    assert sub.state == "Enabled"
    assert sub.display_name


def test_subscription_get_by_id_returns_the_dev_subscription(cmk):
    client = cmk.management_client(SubscriptionClient)

    sub = client.subscriptions.get(cmk.subscription_id)

    assert sub.subscription_id == cmk.subscription_id
    assert sub.id == f"/subscriptions/{cmk.subscription_id}"
    assert sub.tenant_id == cmk.tenant_id
    assert sub.state == "Enabled"


def test_tenant_list_is_the_dev_tenant(cmk):
    client = cmk.management_client(SubscriptionClient)

    tenants = list(client.tenants.list())

    assert [t.tenant_id for t in tenants] == [cmk.tenant_id]
    assert tenants[0].id == f"/tenants/{cmk.tenant_id}"


# --- resource groups (ResourceManagementClient) -----------------------------------------------


def assert_is_group(group, cmk, name: str) -> None:
    assert group.name == name
    assert group.id.lower() == f"/subscriptions/{cmk.subscription_id}/resourcegroups/{name}".lower()
    assert group.type == "Microsoft.Resources/resourceGroups"
    assert group.location == LOCATION
    assert group.properties is not None and group.properties.provisioning_state == "Succeeded"


def test_dev_resource_group_exists(cmk):
    client = cmk.management_client(ResourceManagementClient)

    assert client.resource_groups.check_existence(cmk.resource_group) is True
    assert client.resource_groups.get(cmk.resource_group).name == cmk.resource_group


def test_create_resource_group_returns_succeeded_group(cmk, rg_name):
    client = cmk.management_client(ResourceManagementClient)

    group = client.resource_groups.create_or_update(rg_name, {"location": LOCATION})

    assert_is_group(group, cmk, rg_name)


def test_created_resource_group_can_be_read_checked_and_listed(cmk, rg_name):
    client = cmk.management_client(ResourceManagementClient)
    client.resource_groups.create_or_update(
        rg_name, ResourceGroup(location=LOCATION, tags={"purpose": "compat"})
    )

    group = client.resource_groups.get(rg_name)
    assert_is_group(group, cmk, rg_name)
    assert group.tags == {"purpose": "compat"}
    assert client.resource_groups.check_existence(rg_name) is True
    listed = {g.name: g for g in client.resource_groups.list()}
    assert rg_name in listed
    assert_is_group(listed[rg_name], cmk, rg_name)


def test_missing_resource_group_is_not_found(cmk, rg_name):
    client = cmk.management_client(ResourceManagementClient)

    assert client.resource_groups.check_existence(rg_name) is False
    with pytest.raises(ResourceNotFoundError) as excinfo:
        client.resource_groups.get(rg_name)
    assert excinfo.value.status_code == 404
    assert excinfo.value.error is not None and excinfo.value.error.code == "ResourceGroupNotFound"


def test_delete_resource_group_finishes_quickly_and_removes_it(cmk, rg_name):
    client = cmk.management_client(ResourceManagementClient)
    client.resource_groups.create_or_update(rg_name, {"location": LOCATION})

    started = time.monotonic()
    result = client.resource_groups.begin_delete(rg_name).result()
    elapsed = time.monotonic() - started

    assert result is None
    assert elapsed < DELETE_TIME_LIMIT_S, (
        f"begin_delete(...).result() took {elapsed:.1f} s; the LRO reply probably lacks "
        "a synchronous 200 or a Retry-After header"
    )
    assert client.resource_groups.check_existence(rg_name) is False
    with pytest.raises(ResourceNotFoundError) as excinfo:
        client.resource_groups.get(rg_name)
    assert excinfo.value.error is not None and excinfo.value.error.code == "ResourceGroupNotFound"
    assert rg_name not in {g.name for g in client.resource_groups.list()}


def test_updating_tags_with_create_or_update_keeps_group_and_returns_new_tags(cmk, rg_name):
    client = cmk.management_client(ResourceManagementClient)
    created = client.resource_groups.create_or_update(
        rg_name, {"location": LOCATION, "tags": {"env": "dev"}}
    )
    assert created.tags == {"env": "dev"}

    updated = client.resource_groups.create_or_update(
        rg_name, {"location": LOCATION, "tags": {"env": "test", "owner": "compat"}}
    )

    assert_is_group(updated, cmk, rg_name)
    assert updated.id == created.id
    assert updated.tags == {"env": "test", "owner": "compat"}
    assert client.resource_groups.get(rg_name).tags == {"env": "test", "owner": "compat"}
    assert [g.name for g in client.resource_groups.list()].count(rg_name) == 1
