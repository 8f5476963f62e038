"""Elliptic-curve keys in the Key Vault keys data plane, driven by the unmodified azure-keyvault-keys.

The scenarios are those a user of the SDK's getting-started material walks through (a first key,
listing keys and versions, soft delete with recover and purge), done with EC keys on every curve
Key Vault knows, P-256, P-256K, P-384 and P-521, with the synchronous clients and with the asyncio
ones (``azure.keyvault.keys.aio`` and ``azure.identity.aio`` over aiohttp). Besides them: rotation,
backup and restore, import of a key made locally, ECDSA through CryptographyClient checked against
the `cryptography` package in both directions, and the refusals Key Vault answers with 400
BadParameter: a digest of the wrong length, an algorithm of another curve, RSA operations on an EC
key, and a curve Key Vault does not have.

Vaults, clients and the request log come from test_keyvault_keys.py: every test makes its own vault
through ARM, with an access policy for the dev principal, and its ``*.vault.localhost`` host is
resolved to the loopback address by the ``localhost_subdomains`` fixture (conftest.py). The asyncio
clients are given the same ``connection_verify=<ca_file>`` as the synchronous ones; aiohttp resolves
host names with ``socket.getaddrinfo`` in a worker thread, which the same fixture covers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import (
    JsonWebKey,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyVaultKey,
)
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

# Fixtures and helpers shared with the RSA tests; importing a fixture makes it this module's too.
from test_keyvault_keys import (  # noqa: F401 - fixtures are used by name
    ALL_KEY_PERMISSIONS,
    RETENTION_DAYS,
    VERSION,
    RequestLog,
    Vault,
    assert_kv_error,
    clients,
    group,
    key_client,
    kv_mgmt,
    make_vault,
    new_key_name,
    plain,
    principal_oid,
    timed_wait,
    vault,
)

# --- curves --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    name: str  # Key Vault's (and JOSE's) name
    local: type  # the `cryptography` curve class
    algorithm: SignatureAlgorithm  # the one signature algorithm that fits it
    hash: type  # the digest that algorithm signs
    size: int  # bytes of one coordinate, of d, and of r and of s

    def hash_of(self, data: bytes) -> bytes:
        return hashlib.new(self.hash.name, data).digest()

    def __str__(self) -> str:
        return self.name


CURVES = [
    Curve("P-256", ec.SECP256R1, SignatureAlgorithm.es256, hashes.SHA256, 32),
    Curve("P-256K", ec.SECP256K1, SignatureAlgorithm.es256_k, hashes.SHA256, 32),
    Curve("P-384", ec.SECP384R1, SignatureAlgorithm.es384, hashes.SHA384, 48),
    Curve("P-521", ec.SECP521R1, SignatureAlgorithm.es512, hashes.SHA512, 66),
]
BY_NAME = {c.name: c for c in CURVES}
P256, P256K, P384, P521 = CURVES
# An EC key does ECDSA and nothing else: Key Vault gives it these operations, and only these.
EC_KEY_OPS = {"sign", "verify"}
every_curve = pytest.mark.parametrize("curve", CURVES, ids=str)


# --- helpers -------------------------------------------------------------------------------


def fixed(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def local_public_key(key: KeyVaultKey) -> ec.EllipticCurvePublicKey:
    """The key's public point loaded with `cryptography`, which refuses a point that is not on the curve."""
    jwk = key.key
    curve = BY_NAME[plain(jwk.crv)]
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve.local()
    ).public_key()


def raw_to_der(signature: bytes, curve: Curve) -> bytes:
    """Key Vault's ECDSA signature, r||s of fixed size, as the DER that `cryptography` verifies."""
    assert len(signature) == 2 * curve.size, f"{curve}: a signature of {len(signature)} bytes"
    r, s = signature[: curve.size], signature[curve.size :]
    return encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def der_to_raw(der: bytes, curve: Curve) -> bytes:
    r, s = decode_dss_signature(der)
    return fixed(r, curve.size) + fixed(s, curve.size)


def verify_locally(public: ec.EllipticCurvePublicKey, curve: Curve, digest: bytes, signature: bytes) -> bool:
    try:
        public.verify(raw_to_der(signature, curve), digest, ec.ECDSA(Prehashed(curve.hash())))
        return True
    except InvalidSignature:
        return False


def tampered(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def local_ec_jwk(private: ec.EllipticCurvePrivateKey, curve: Curve) -> JsonWebKey:
    """A private key made with `cryptography`, as the JsonWebKey import_key sends (with d)."""
    numbers = private.private_numbers()
    public = numbers.public_numbers
    return JsonWebKey(
        kty="EC",
        crv=curve.name,
        key_ops=sorted(EC_KEY_OPS),
        x=fixed(public.x, curve.size),
        y=fixed(public.y, curve.size),
        d=fixed(numbers.private_value, curve.size),
    )


def assert_ec_key(key: KeyVaultKey, vault: Vault, name: str, curve: Curve, *, kty: str = "EC") -> None:
    assert key.name == name
    assert key.properties.vault_url == vault.url
    assert VERSION.fullmatch(key.properties.version or ""), key.id
    assert key.id == f"{vault.url}/keys/{name}/{key.properties.version}"
    assert key.key.kid == key.id
    assert plain(key.key_type) == kty
    assert plain(key.key.crv) == curve.name
    assert len(key.key.x) == curve.size, f"x has {len(key.key.x)} bytes; {curve} has {curve.size}"
    assert len(key.key.y) == curve.size, f"y has {len(key.key.y)} bytes; {curve} has {curve.size}"
    local_public_key(key)  # raises unless (x, y) is a point of the curve
    assert {plain(op) for op in key.key_operations} == EC_KEY_OPS, key.key_operations
    assert key.key.d is None, "the key bundle leaks d"
    for rsa_part in ("n", "e"):
        assert getattr(key.key, rsa_part) is None, f"an EC key bundle with {rsa_part}"
    props = key.properties
    assert props.enabled is True
    assert props.created_on is not None and props.created_on.tzinfo is not None
    assert props.recoverable_days == RETENTION_DAYS


def no_get_permission(permissions: list[str]) -> list[str]:
    """Everything but keys/get: a CryptographyClient can then not fetch the key and does all in the vault."""
    return [p for p in permissions if p != "get"]


# --- create and get (the first steps with a key) -------------------------------------------


@every_curve
def test_create_ec_key_on_each_curve_and_get_it(key_client, vault, curve):
    name = new_key_name("ec")

    key = key_client.create_ec_key(name, curve=curve.name)

    assert_ec_key(key, vault, name, curve)
    assert key.properties.updated_on == key.properties.created_on
    got = key_client.get_key(name)
    assert got.id == key.id
    assert (got.key.x, got.key.y) == (key.key.x, key.key.y)
    assert_ec_key(got, vault, name, curve)
    assert key_client.get_key(name, key.properties.version).key.x == key.key.x


def test_create_ec_key_without_curve_is_p256(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("ecdef")

    key = client.create_ec_key(name)

    sent = [e.body for e in log.exchanges if e.method == "POST" and e.status == 200]
    assert sent == [{"kty": "EC"}], "the SDK sends no curve when none is given"
    assert_ec_key(key, vault, name, P256)


def test_create_hardware_protected_ec_key(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("echsm")

    key = client.create_ec_key(name, curve="P-384", hardware_protected=True)

    sent = [e.body for e in log.exchanges if e.method == "POST" and e.status == 200]
    assert sent == [{"kty": "EC-HSM", "crv": "P-384"}]
    assert_ec_key(key, vault, name, P384, kty="EC-HSM")
    assert plain(client.get_key(name).key_type) == "EC-HSM"
    default = client.create_ec_key(new_key_name("echsm"), hardware_protected=True)
    assert plain(default.key_type) == "EC-HSM" and plain(default.key.crv) == "P-256"


def test_create_key_with_key_type_ec_and_curve(key_client, vault):
    name = new_key_name("eckt")

    key = key_client.create_key(name, "EC", curve="P-521")

    assert_ec_key(key, vault, name, P521)


def test_each_version_of_an_ec_key_has_its_own_point(key_client, vault):
    name = new_key_name("ecver")
    first = key_client.create_ec_key(name, curve="P-256")
    second = key_client.create_ec_key(name, curve="P-256")

    assert first.properties.version != second.properties.version
    assert first.key.x != second.key.x
    assert key_client.get_key(name).id == second.id
    assert key_client.get_key(name, first.properties.version).key.x == first.key.x


# --- update --------------------------------------------------------------------------------


def test_update_ec_key_properties(key_client, vault):
    name = new_key_name("ecupd")
    key = key_client.create_ec_key(name, curve="P-256K")
    version = key.properties.version
    expires = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)

    updated = key_client.update_key_properties(
        name, version, enabled=False, expires_on=expires, tags={"purpose": "signing", "curve": "secp256k1"}
    )

    assert updated.id == key.id
    assert updated.properties.enabled is False
    assert updated.properties.expires_on == expires
    assert updated.properties.tags == {"purpose": "signing", "curve": "secp256k1"}
    assert (updated.key.x, updated.key.y) == (key.key.x, key.key.y)
    assert plain(updated.key.crv) == "P-256K"
    got = key_client.get_key(name, version)
    assert got.properties.enabled is False
    assert got.properties.expires_on == expires
    assert got.properties.tags == {"purpose": "signing", "curve": "secp256k1"}

    back = key_client.update_key_properties(name, enabled=True, tags={"purpose": "signing"})

    assert back.id == key.id
    assert back.properties.enabled is True
    assert back.properties.expires_on == expires, "a property not sent stays as it was"
    assert back.properties.tags == {"purpose": "signing"}


# --- listing -------------------------------------------------------------------------------


def test_list_ec_keys_their_versions_and_the_deleted_ones(key_client, vault):
    names = {curve.name: new_key_name("eclist") for curve in CURVES}
    for curve in CURVES:
        key_client.create_ec_key(names[curve.name], curve=curve.name)
    again = key_client.create_ec_key(names["P-384"], curve="P-384")

    listed = [p for p in key_client.list_properties_of_keys()]
    assert sorted(p.name for p in listed) == sorted(names.values())
    for props in listed:
        assert props.id == f"{vault.url}/keys/{props.name}"
        assert props.version is None
        assert props.enabled is True

    versions = list(key_client.list_properties_of_key_versions(names["P-384"]))
    assert len(versions) == 2
    assert again.properties.version in {p.version for p in versions}
    for props in versions:
        assert props.id == f"{vault.url}/keys/{names['P-384']}/{props.version}"

    gone = [names["P-256"], names["P-521"]]
    for name in gone:
        timed_wait(key_client.begin_delete_key(name))

    deleted = list(key_client.list_deleted_keys())
    assert sorted(d.name for d in deleted) == sorted(gone)
    for item in deleted:
        assert item.recovery_id == f"{vault.url}/deletedkeys/{item.name}"
        assert item.deleted_date is not None and item.scheduled_purge_date is not None
    assert sorted(p.name for p in key_client.list_properties_of_keys()) == sorted(
        n for n in names.values() if n not in gone
    )


# --- soft delete, recover, purge -----------------------------------------------------------


def test_delete_then_recover_an_ec_key(key_client, vault):
    name = new_key_name("ecdel")
    key = key_client.create_ec_key(name, curve="P-384")

    poller = key_client.begin_delete_key(name)
    deleted = poller.result()
    timed_wait(poller)

    assert deleted.id == key.id
    assert deleted.recovery_id == f"{vault.url}/deletedkeys/{name}"
    assert plain(deleted.key.crv) == "P-384"
    assert abs(deleted.scheduled_purge_date - deleted.deleted_date - timedelta(days=RETENTION_DAYS)) < timedelta(
        minutes=1
    )
    with pytest.raises(ResourceNotFoundError) as excinfo:
        key_client.get_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")
    got = key_client.get_deleted_key(name)
    assert (got.key.x, got.key.y) == (key.key.x, key.key.y)
    assert plain(got.key.crv) == "P-384"

    poller = key_client.begin_recover_deleted_key(name)
    recovered = poller.result()
    timed_wait(poller)

    assert recovered.id == key.id
    assert_ec_key(key_client.get_key(name), vault, name, P384)
    assert key_client.get_key(name).key.x == key.key.x
    assert name not in {d.name for d in key_client.list_deleted_keys()}


def test_delete_then_purge_an_ec_key_without_purge_protection(clients, make_vault):
    vault = make_vault("ecpurge", purge_protection=False)
    client = clients.keys(vault)
    name = new_key_name("ecgone")
    key = client.create_ec_key(name, curve="P-521")
    assert key.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    timed_wait(client.begin_delete_key(name))

    assert client.purge_deleted_key(name) is None

    with pytest.raises(ResourceNotFoundError) as excinfo:
        client.get_deleted_key(name)
    assert_kv_error(excinfo.value, 404, "KeyNotFound")
    again = client.create_ec_key(name, curve="P-256")
    assert plain(again.key.crv) == "P-256"
    assert [p.version for p in client.list_properties_of_key_versions(name)] == [again.properties.version]


def test_purge_of_an_ec_key_under_purge_protection_is_refused(key_client):
    name = new_key_name("ecprot")
    key = key_client.create_ec_key(name, curve="P-256")
    assert key.properties.recovery_level == "CustomizedRecoverable"
    timed_wait(key_client.begin_delete_key(name))

    with pytest.raises(HttpResponseError) as excinfo:
        key_client.purge_deleted_key(name)

    assert excinfo.value.status_code == 403, excinfo.value
    assert "purge protection" in str(excinfo.value).lower(), excinfo.value
    assert key_client.get_deleted_key(name).id == key.id


# --- rotation, backup and restore ----------------------------------------------------------


@pytest.mark.parametrize("curve", [P256K, P521], ids=str)
def test_rotate_keeps_the_curve(key_client, vault, curve):
    name = new_key_name("ecrot")
    first = key_client.create_ec_key(name, curve=curve.name, tags={"kept": "yes"})

    rotated = key_client.rotate_key(name)

    assert rotated.properties.version != first.properties.version
    assert_ec_key(rotated, vault, name, curve)
    assert rotated.key.x != first.key.x, "a rotation makes a new key"
    assert key_client.get_key(name).id == rotated.id
    assert len(list(key_client.list_properties_of_key_versions(name))) == 2

    policy = KeyRotationPolicy(
        expires_in="P2Y",
        lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P1Y")],
    )
    stored = key_client.update_key_rotation_policy(name, policy)
    assert stored.expires_in == "P2Y"
    assert any(a.time_after_create == "P1Y" for a in key_client.get_key_rotation_policy(name).lifetime_actions)
    assert plain(key_client.rotate_key(name).key.crv) == curve.name


def test_backup_and_restore_an_ec_key_into_another_vault(clients, make_vault):
    source = make_vault("ecbk-src")
    target = make_vault("ecbk-dst")
    source_client = clients.keys(source)
    target_client = clients.keys(target)
    name = new_key_name("ecbk")
    first = source_client.create_ec_key(name, curve="P-256K")
    key = source_client.create_ec_key(name, curve="P-384")

    blob = source_client.backup_key(name)
    assert isinstance(blob, bytes) and len(blob) > 64

    restored = target_client.restore_key_backup(blob)

    assert restored.name == name
    assert restored.properties.version == key.properties.version
    assert_ec_key(restored, target, name, P384)
    assert (restored.key.x, restored.key.y) == (key.key.x, key.key.y)
    older = target_client.get_key(name, first.properties.version)
    assert plain(older.key.crv) == "P-256K" and older.key.x == first.key.x
    with pytest.raises(ResourceExistsError):
        source_client.restore_key_backup(blob)
    # The restored private key signs in its new vault what the old public key verifies.
    digest = P384.hash_of(b"signed after a restore")
    signature = clients.crypto(restored).sign(SignatureAlgorithm.es384, digest).signature
    assert verify_locally(local_public_key(key), P384, digest, signature)


# --- import --------------------------------------------------------------------------------


@every_curve
def test_import_a_local_ec_key_then_sign_with_it_in_the_vault(clients, vault, curve):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    private = ec.generate_private_key(curve.local())
    jwk = local_ec_jwk(private, curve)
    name = new_key_name("ecimp")

    imported = client.import_key(name, jwk)

    put = [e for e in log.exchanges if e.method == "PUT" and e.status == 200]
    assert [e.path for e in put] == [f"/keys/{name}"], log.calls()
    sent = put[0].body["key"]
    assert (sent["kty"], sent["crv"]) == ("EC", curve.name) and sent.get("d"), "the SDK sends the private key"
    assert_ec_key(imported, vault, name, curve)
    assert (imported.key.x, imported.key.y) == (jwk.x, jwk.y)
    assert client.get_key(name).id == imported.id

    digest = curve.hash_of(b"imported, then signed in the vault")
    signed = clients.crypto(imported).sign(curve.algorithm, digest)

    assert signed.key_id == imported.id
    assert verify_locally(private.public_key(), curve, digest, signed.signature)


def test_import_with_hardware_protection_makes_an_ec_hsm_key(clients, vault):
    log = RequestLog()
    client = clients.keys(vault, raw_response_hook=log)
    name = new_key_name("ecimphsm")

    imported = client.import_key(
        name, local_ec_jwk(ec.generate_private_key(ec.SECP256R1()), P256), hardware_protected=True
    )

    put = [e for e in log.exchanges if e.method == "PUT" and e.status == 200]
    assert len(put) == 1 and put[0].body.get("Hsm") is True, log.calls()
    assert plain(imported.key_type) == "EC-HSM"
    assert plain(imported.key.crv) == "P-256"


# --- ECDSA through CryptographyClient ------------------------------------------------------


@every_curve
def test_sign_in_the_vault_and_verify_locally(clients, key_client, curve):
    key = key_client.create_ec_key(new_key_name("ecsign"), curve=curve.name)
    log = RequestLog()
    crypto = clients.crypto(key, raw_response_hook=log)
    public = local_public_key(key)
    digest = curve.hash_of(b"a message signed with ECDSA")

    signed = crypto.sign(curve.algorithm, digest)

    assert signed.key_id == key.id
    assert plain(signed.algorithm) == plain(curve.algorithm)
    assert len(signed.signature) == 2 * curve.size
    sign_calls = [e for e in log.exchanges if e.path.endswith("/sign") and e.status == 200]
    assert len(sign_calls) == 1 and sign_calls[0].body.get("alg") == plain(curve.algorithm)
    assert verify_locally(public, curve, digest, signed.signature), "cryptography rejects the vault's signature"
    assert not verify_locally(public, curve, tampered(digest), signed.signature)
    # The SDK verifies with the public key it holds, without asking the vault.
    assert crypto.verify(curve.algorithm, digest, signed.signature).is_valid is True
    assert crypto.verify(curve.algorithm, tampered(digest), signed.signature).is_valid is False


@every_curve
def test_the_vault_verifies_signatures_made_locally(clients, make_vault, curve):
    """No keys/get permission: the CryptographyClient cannot fetch the key, so verify happens in the vault."""
    vault = make_vault("ecverify", keys=no_get_permission(ALL_KEY_PERMISSIONS))
    private = ec.generate_private_key(curve.local())
    key = clients.keys(vault).import_key(new_key_name("ecver"), local_ec_jwk(private, curve))
    log = RequestLog()
    crypto = clients.crypto(key.id, raw_response_hook=log)
    digest = curve.hash_of(b"signed here, verified there")
    signature = der_to_raw(private.sign(digest, ec.ECDSA(Prehashed(curve.hash()))), curve)

    assert crypto.verify(curve.algorithm, digest, signature).is_valid is True
    assert crypto.verify(curve.algorithm, tampered(digest), signature).is_valid is False
    assert crypto.verify(curve.algorithm, digest, tampered(signature)).is_valid is False
    # And what the vault signs, the vault verifies.
    vault_signature = crypto.sign(curve.algorithm, digest).signature
    assert crypto.verify(curve.algorithm, digest, vault_signature).is_valid is True
    assert verify_locally(private.public_key(), curve, digest, vault_signature)

    prefix = f"/keys/{key.name}/{key.properties.version}"
    calls = log.calls()
    assert ("GET", prefix, 403) in calls, calls
    verify_calls = [e for e in log.exchanges if e.path == f"{prefix}/verify" and e.status == 200]
    assert len(verify_calls) == 4, calls
    assert all(e.body.get("alg") == plain(curve.algorithm) for e in verify_calls)


# --- refusals ------------------------------------------------------------------------------


def test_sign_with_a_digest_of_the_wrong_length_is_refused(clients, key_client):
    p256 = key_client.create_ec_key(new_key_name("ecdig"), curve="P-256")
    p384 = key_client.create_ec_key(new_key_name("ecdig"), curve="P-384")

    for key, algorithm, digest in (
        (p256, SignatureAlgorithm.es256, hashlib.sha1(b"x").digest()),  # 20 bytes for ES256's 32
        (p256, SignatureAlgorithm.es256, hashlib.sha384(b"x").digest()),  # 48 bytes for ES256's 32
        (p384, SignatureAlgorithm.es384, hashlib.sha256(b"x").digest()),  # 32 bytes for ES384's 48
    ):
        with pytest.raises(HttpResponseError) as excinfo:
            clients.crypto(key).sign(algorithm, digest)
        assert_kv_error(excinfo.value, 400, "BadParameter")


def test_sign_with_the_algorithm_of_another_curve_is_refused(clients, key_client):
    p256 = key_client.create_ec_key(new_key_name("ecalg"), curve="P-256")
    p256k = key_client.create_ec_key(new_key_name("ecalg"), curve="P-256K")

    for key, algorithm, digest in (
        # Each digest has the length its algorithm wants: only the curve is wrong.
        (p256, SignatureAlgorithm.es384, hashlib.sha384(b"x").digest()),
        (p256, SignatureAlgorithm.es512, hashlib.sha512(b"x").digest()),
        (p256, SignatureAlgorithm.es256_k, hashlib.sha256(b"x").digest()),
        (p256k, SignatureAlgorithm.es256, hashlib.sha256(b"x").digest()),
        (p256, SignatureAlgorithm.rs256, hashlib.sha256(b"x").digest()),
    ):
        with pytest.raises(HttpResponseError) as excinfo:
            clients.crypto(key).sign(algorithm, digest)
        assert_kv_error(excinfo.value, 400, "BadParameter")


def test_wrap_key_and_encrypt_with_an_ec_key_are_refused(clients, key_client):
    key = key_client.create_ec_key(new_key_name("ecwrap"), curve="P-256")
    log = RequestLog()
    crypto = clients.crypto(key, raw_response_hook=log)
    secret = os.urandom(32)

    with pytest.raises(HttpResponseError) as excinfo:
        crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
    assert_kv_error(excinfo.value, 400, "BadParameter")
    with pytest.raises(HttpResponseError) as excinfo:
        crypto.encrypt(EncryptionAlgorithm.rsa_oaep, secret)
    assert_kv_error(excinfo.value, 400, "BadParameter")

    # The SDK cannot do either locally with an EC key, so both went to the vault.
    prefix = f"/keys/{key.name}/{key.properties.version}"
    assert ("POST", f"{prefix}/wrapkey", 400) in log.calls(), log.calls()
    assert ("POST", f"{prefix}/encrypt", 400) in log.calls(), log.calls()


def test_a_curve_key_vault_does_not_have_is_refused(key_client):
    name = new_key_name("eccrv")

    for curve in ("P-192", "P-224", "Ed25519"):
        with pytest.raises(HttpResponseError) as excinfo:
            key_client.create_ec_key(name, curve=curve)
        assert_kv_error(excinfo.value, 400, "BadParameter")

    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)


# --- the asyncio clients -------------------------------------------------------------------


class AsyncClients:
    """aio KeyClients and CryptographyClients over aiohttp, with aio ClientSecretCredentials,
    built with the same CA and client defaults as the synchronous helpers; closed on exit."""

    def __init__(self, cmk) -> None:
        self.cmk = cmk
        self._open: list[Any] = []

    async def __aenter__(self) -> "AsyncClients":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        while self._open:
            try:
                await self._open.pop().close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass

    def credential(self):
        from azure.identity.aio import ClientSecretCredential

        credential = ClientSecretCredential(
            self.cmk.tenant_id,
            self.cmk.client_id,
            self.cmk.client_secret,
            authority=self.cmk.authority,
            disable_instance_discovery=True,
            **self.cmk.client_kwargs(),
        )
        self._open.append(credential)
        return credential

    def keys(self, vault: Vault, **kwargs: Any):
        from azure.keyvault.keys.aio import KeyClient

        client = KeyClient(vault.url, self.credential(), **self.cmk.client_kwargs(**kwargs))
        self._open.append(client)
        return client

    def crypto(self, key: Any, **kwargs: Any):
        from azure.keyvault.keys.crypto.aio import CryptographyClient

        client = CryptographyClient(key, self.credential(), **self.cmk.client_kwargs(**kwargs))
        self._open.append(client)
        return client


def run(coroutine) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=120))


async def collect(paged) -> list:
    return [item async for item in paged]


def test_async_clients_trust_the_ca_and_wrap_with_rsa(cmk, vault, localhost_subdomains):
    """The harness of the asyncio tests, with what the vault does today: RSA create, wrap, unwrap, sign."""
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    async def flow() -> None:
        async with AsyncClients(cmk) as aio:
            log = RequestLog()
            client = aio.keys(vault, raw_response_hook=log)
            name = new_key_name("aiorsa")
            key = await client.create_rsa_key(name, size=2048)
            assert [(e.method, e.status) for e in log.exchanges] == [("POST", 401), ("POST", 200)], log.calls()
            assert (await client.get_key(name)).id == key.id
            assert [p.name async for p in client.list_properties_of_keys()] == [name]

            crypto = aio.crypto(key)
            secret = os.urandom(32)
            wrapped = await crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
            assert (await crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)).key == secret
            digest = hashlib.sha256(b"async").digest()
            signature = (await crypto.sign(SignatureAlgorithm.rs256, digest)).signature
            public = rsa.RSAPublicNumbers(
                int.from_bytes(key.key.e, "big"), int.from_bytes(key.key.n, "big")
            ).public_key()
            public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

            deleted = await client.delete_key(name)
            assert deleted.recovery_id == f"{vault.url}/deletedkeys/{name}"
            assert (await client.recover_deleted_key(name)).id == key.id

    run(flow())


def test_async_first_steps_with_ec_keys_on_every_curve(cmk, make_vault, localhost_subdomains):
    vault = make_vault("aioec", purge_protection=False)

    async def flow() -> None:
        async with AsyncClients(cmk) as aio:
            client = aio.keys(vault)
            names = {}
            for curve in CURVES:
                name = names[curve.name] = new_key_name("aioec")
                key = await client.create_ec_key(name, curve=curve.name)
                assert_ec_key(key, vault, name, curve)
                got = await client.get_key(name)
                assert got.id == key.id and got.key.x == key.key.x
            default = await client.create_ec_key(new_key_name("aioec"), hardware_protected=True)
            assert plain(default.key_type) == "EC-HSM" and plain(default.key.crv) == "P-256"
            names["default"] = default.name

            expires = (datetime.now(timezone.utc) + timedelta(days=90)).replace(microsecond=0)
            updated = await client.update_key_properties(
                names["P-384"], enabled=False, expires_on=expires, tags={"async": "yes"}
            )
            assert updated.properties.enabled is False
            assert updated.properties.expires_on == expires
            assert updated.properties.tags == {"async": "yes"}
            assert plain(updated.key.crv) == "P-384"

            listed = await collect(client.list_properties_of_keys())
            assert sorted(p.name for p in listed) == sorted(names.values())

            deleted = await client.delete_key(names["P-521"])
            assert plain(deleted.key.crv) == "P-521"
            assert await client.purge_deleted_key(names["P-521"]) is None
            with pytest.raises(ResourceNotFoundError):
                await client.get_deleted_key(names["P-521"])

    run(flow())


def test_async_list_versions_delete_recover_and_purge(cmk, make_vault, localhost_subdomains):
    vault = make_vault("aiolist", purge_protection=False)

    async def flow() -> None:
        async with AsyncClients(cmk) as aio:
            client = aio.keys(vault)
            kept, dropped = new_key_name("aiokeep"), new_key_name("aiodrop")
            first = await client.create_ec_key(kept, curve="P-256K")
            second = await client.create_ec_key(kept, curve="P-256K")
            await client.create_ec_key(dropped, curve="P-384")

            versions = await collect(client.list_properties_of_key_versions(kept))
            assert sorted(p.version for p in versions) == sorted(
                [first.properties.version, second.properties.version]
            )

            for name in (kept, dropped):
                await client.delete_key(name)
            deleted = await collect(client.list_deleted_keys())
            assert sorted(d.name for d in deleted) == sorted([kept, dropped])
            assert await collect(client.list_properties_of_keys()) == []

            recovered = await client.recover_deleted_key(kept)
            assert recovered.id == second.id
            assert plain(recovered.key.crv) == "P-256K"
            await client.purge_deleted_key(dropped)

            assert [p.name for p in await collect(client.list_properties_of_keys())] == [kept]
            assert await collect(client.list_deleted_keys()) == []
            assert len(await collect(client.list_properties_of_key_versions(kept))) == 2

    run(flow())


def test_async_sign_and_verify_on_every_curve(cmk, vault, localhost_subdomains):
    async def flow() -> None:
        async with AsyncClients(cmk) as aio:
            client = aio.keys(vault)
            for curve in CURVES:
                key = await client.create_ec_key(new_key_name("aiosign"), curve=curve.name)
                crypto = aio.crypto(key)
                digest = curve.hash_of(f"async ECDSA on {curve}".encode())

                signed = await crypto.sign(curve.algorithm, digest)

                assert signed.key_id == key.id
                assert len(signed.signature) == 2 * curve.size
                assert verify_locally(local_public_key(key), curve, digest, signed.signature), curve
                assert (await crypto.verify(curve.algorithm, digest, signed.signature)).is_valid is True
                assert (await crypto.verify(curve.algorithm, tampered(digest), signed.signature)).is_valid is False

            key = await client.create_ec_key(new_key_name("aiobad"), curve="P-256")
            with pytest.raises(HttpResponseError) as excinfo:
                await aio.crypto(key).sign(SignatureAlgorithm.es384, hashlib.sha384(b"x").digest())
            assert_kv_error(excinfo.value, 400, "BadParameter")

    run(flow())
