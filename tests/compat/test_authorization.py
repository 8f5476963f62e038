"""Azure RBAC (Microsoft.Authorization) driven by the unmodified azure-mgmt-authorization 4.0.0, as a user would
drive it: role definitions by scope, name and id; role assignments created, read, listed at every level and
deleted; custom roles; and the refusals, with Azure's codes, that the SDK raises as its own exception types.

A new service principal of the tenant (made with the operators' ``/cmk/admin`` API) plays the colleague who is
granted a role; azure-mgmt-resource, as that principal, shows what the role lets it see.
"""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.authorization.models import Permission, RoleAssignmentCreateParameters, RoleDefinition
from azure.mgmt.resource.resources import ResourceManagementClient

from conftest import ROLES, admin_post

LOCATION = "westus2"


@pytest.fixture
def colleague(cmk) -> dict:
    """A new service principal of the dev tenant, holding no role."""
    return admin_post(
        cmk, f"/tenants/{cmk.tenant_id}/servicePrincipals", {"displayName": f"compat rbac {uuid.uuid4().hex[:8]}"}
    )


@pytest.fixture
def auth(cmk):
    return cmk.authorization()


@pytest.fixture
def group(cmk, rg_name) -> str:
    resources = cmk.management_client(ResourceManagementClient)
    resources.resource_groups.create_or_update(rg_name, {"location": LOCATION})
    return rg_name


def subscription_scope(cmk) -> str:
    return f"/subscriptions/{cmk.subscription_id}"


def role_id(cmk, name: str) -> str:
    return f"{subscription_scope(cmk)}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[name]}"


def create_params(cmk, role: str, principal_id: str, **kwargs) -> RoleAssignmentCreateParameters:
    return RoleAssignmentCreateParameters(
        role_definition_id=role_id(cmk, role), principal_id=principal_id, principal_type="ServicePrincipal", **kwargs
    )


def test_role_definitions_are_azures_built_in_roles(cmk, auth, group):
    scope = f"{subscription_scope(cmk)}/resourceGroups/{group}"
    roles = {r.role_name: r for r in auth.role_definitions.list(scope)}
    for name, guid in ROLES.items():
        assert roles[name].name == guid, name
        assert roles[name].id == role_id(cmk, name), "ids are in the subscription's form, as az expects"
        assert roles[name].role_type == "BuiltInRole"
    officer = roles["Key Vault Crypto Officer"].permissions[0]
    assert officer.data_actions == ["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"]
    assert roles["Contributor"].permissions[0].not_actions[:2] == [
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
    ]

    found = list(auth.role_definitions.list(scope, filter="roleName eq 'Key Vault Crypto Service Encryption User'"))
    assert [r.name for r in found] == [ROLES["Key Vault Crypto Service Encryption User"]]
    assert auth.role_definitions.get(scope, ROLES["Reader"]).permissions[0].actions == ["*/read"]
    assert auth.role_definitions.get_by_id(role_id(cmk, "Owner")).role_name == "Owner"
    with pytest.raises(ResourceNotFoundError) as excinfo:
        auth.role_definitions.get(scope, str(uuid.uuid4()))
    assert excinfo.value.error.code == "RoleDefinitionDoesNotExist"


def test_assignments_are_created_listed_and_deleted_and_take_effect(cmk, auth, group, colleague):
    group_scope = f"{subscription_scope(cmk)}/resourceGroups/{group}"
    as_colleague = cmk.credential(client_id=colleague["clientId"], client_secret=colleague["clientSecret"])
    resources = cmk.management_client(ResourceManagementClient, credential=as_colleague)
    with pytest.raises(HttpResponseError) as excinfo:
        resources.resource_groups.get(group)
    assert excinfo.value.status_code == 403 and excinfo.value.error.code == "AuthorizationFailed"

    name = str(uuid.uuid4())
    created = auth.role_assignments.create(group_scope, name, create_params(cmk, "Reader", colleague["objectId"]))
    assert (created.name, created.scope, created.principal_id) == (name, group_scope, colleague["objectId"])
    assert created.role_definition_id == role_id(cmk, "Reader")
    assert created.principal_type == "ServicePrincipal"
    assert created.id == f"{group_scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert auth.role_assignments.get(group_scope, name).id == created.id
    assert auth.role_assignments.get_by_id(created.id).principal_id == colleague["objectId"]

    # Listed at the group, for the principal across the subscription, and at the group's scope.
    assert created.id in [a.id for a in auth.role_assignments.list_for_resource_group(group)]
    mine = list(auth.role_assignments.list_for_subscription(filter=f"principalId eq '{colleague['objectId']}'"))
    assert [a.id for a in mine] == [created.id]
    at_group = list(auth.role_assignments.list_for_scope(group_scope, filter="atScope()"))
    assert created.id in [a.id for a in at_group]
    assert any(a.scope == subscription_scope(cmk) for a in at_group), "the Owner above applies at the group too"

    # The role works at once, and only where it was assigned.
    assert resources.resource_groups.get(group).name == group
    assert [g.name for g in resources.resource_groups.list()] == [group]
    with pytest.raises(HttpResponseError) as excinfo:
        resources.resource_groups.create_or_update(group, {"location": LOCATION, "tags": {"by": "colleague"}})
    assert excinfo.value.error.code == "AuthorizationFailed"

    deleted = auth.role_assignments.delete(group_scope, name)
    assert deleted.id == created.id
    assert auth.role_assignments.delete_by_id(created.id) is None, "a second delete answers 204"
    with pytest.raises(HttpResponseError) as excinfo:
        resources.resource_groups.get(group)
    assert excinfo.value.error.code == "AuthorizationFailed"


def test_bad_assignments_are_refused_with_azures_codes(cmk, auth, group, colleague):
    scope = f"{subscription_scope(cmk)}/resourceGroups/{group}"
    # The 4.0.0 model sends principalType "User" unless told otherwise; Azure refuses the mismatch.
    with pytest.raises(HttpResponseError) as excinfo:
        auth.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(role_definition_id=role_id(cmk, "Reader"), principal_id=colleague["objectId"]),
        )
    assert (excinfo.value.status_code, excinfo.value.error.code) == (400, "UnmatchedPrincipalType")
    with pytest.raises(HttpResponseError) as excinfo:
        auth.role_assignments.create(scope, str(uuid.uuid4()), create_params(cmk, "Reader", str(uuid.uuid4())))
    assert (excinfo.value.status_code, excinfo.value.error.code) == (400, "PrincipalNotFound")
    unknown = RoleAssignmentCreateParameters(
        role_definition_id=f"{subscription_scope(cmk)}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}",
        principal_id=colleague["objectId"],
        principal_type="ServicePrincipal",
    )
    with pytest.raises(HttpResponseError) as excinfo:
        auth.role_assignments.create(scope, str(uuid.uuid4()), unknown)
    assert (excinfo.value.status_code, excinfo.value.error.code) == (400, "RoleDefinitionDoesNotExist")

    auth.role_assignments.create(scope, str(uuid.uuid4()), create_params(cmk, "Reader", colleague["objectId"]))
    with pytest.raises(ResourceExistsError) as excinfo:
        auth.role_assignments.create(scope, str(uuid.uuid4()), create_params(cmk, "Reader", colleague["objectId"]))
    assert excinfo.value.error.code == "RoleAssignmentExists"

    # A Reader cannot grant itself more.
    climber = cmk.authorization(
        credential=cmk.credential(client_id=colleague["clientId"], client_secret=colleague["clientSecret"])
    )
    with pytest.raises(HttpResponseError) as excinfo:
        climber.role_assignments.create(scope, str(uuid.uuid4()), create_params(cmk, "Owner", colleague["objectId"]))
    assert (excinfo.value.status_code, excinfo.value.error.code) == (403, "AuthorizationFailed")
    held = list(auth.role_assignments.list_for_scope(scope, filter=f"principalId eq '{colleague['objectId']}'"))
    assert [a.role_definition_id for a in held] == [role_id(cmk, "Reader")]


def test_a_custom_role_is_created_assigned_and_deleted(cmk, auth, group, colleague):
    subscription = subscription_scope(cmk)
    role_guid = str(uuid.uuid4())
    definition = RoleDefinition(
        role_name=f"Group reader {role_guid[:8]}",
        description="reads resource groups",
        permissions=[Permission(actions=["Microsoft.Resources/subscriptions/resourceGroups/read"])],
        assignable_scopes=[subscription],
    )
    created = auth.role_definitions.create_or_update(subscription, role_guid, definition)
    assert (created.name, created.role_type) == (role_guid, "CustomRole")
    custom = list(auth.role_definitions.list(subscription, filter="type eq 'CustomRole'"))
    assert role_guid in [r.name for r in custom]

    assignment = auth.role_assignments.create(
        subscription,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=created.id, principal_id=colleague["objectId"], principal_type="ServicePrincipal"
        ),
    )
    as_colleague = cmk.credential(client_id=colleague["clientId"], client_secret=colleague["clientSecret"])
    resources = cmk.management_client(ResourceManagementClient, credential=as_colleague)
    assert resources.resource_groups.get(group).name == group

    with pytest.raises(HttpResponseError) as excinfo:
        auth.role_definitions.delete(subscription, role_guid)
    assert (excinfo.value.status_code, excinfo.value.error.code) == (409, "RoleDefinitionHasAssignments")
    auth.role_assignments.delete_by_id(assignment.id)
    assert auth.role_definitions.delete(subscription, role_guid).name == role_guid
