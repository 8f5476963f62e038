// Compatibility tests: the unmodified Azure SDK for JavaScript (@azure/keyvault-keys, @azure/identity)
// against a real `cmk server --dev`, started by harness.mjs for this file.
//
// Every test makes its own vault through ARM (a plain PUT with a management token, api-version
// 2023-07-01), with an access policy for the dev principal, and talks to it at its vaultUri
// (https://{vault}.vault.localhost:{port}) with KeyClient and CryptographyClient, as a user of the
// SDK's getting-started samples would: a first key (create, get, list, update, delete, purge), key
// rotation with a rotation policy, and ECDSA sign and verify on every curve, with the vault's
// signatures checked by Node's own crypto. The challenge resource is verified by the SDK as it is
// against Azure (disableChallengeResourceVerification stays off).
//
// Run (from the repository root):
//   source scripts/lib/node.sh && ensure_compat_node   # npm ci in tests/compat-js when the lock changed
//   (cd tests/compat-js && CMK_BIN=$PWD/../../target/debug/cmk node --test)

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { after, before, test } from "node:test";

import { ClientSecretCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

import { clientOptions, jwtClaims, request, startCmk } from "./harness.mjs";

const LOCATION = "westus2";
const ARM_API_VERSION = "2023-07-01";
const RETENTION_DAYS = 7;
const ALL_KEY_PERMISSIONS = [
  "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "get", "list", "create", "update", "import",
  "delete", "backup", "restore", "recover", "purge", "release", "rotate", "getrotationpolicy", "setrotationpolicy",
];
// Each curve with the one signature algorithm that fits it; nodeCrv is the name Node's JWK import uses.
const CURVES = [
  { name: "P-256", algorithm: "ES256", hash: "sha256", size: 32, nodeCrv: "P-256" },
  { name: "P-256K", algorithm: "ES256K", hash: "sha256", size: 32, nodeCrv: "secp256k1" },
  { name: "P-384", algorithm: "ES384", hash: "sha384", size: 48, nodeCrv: "P-384" },
  { name: "P-521", algorithm: "ES512", hash: "sha512", size: 66, nodeCrv: "P-521" },
];
const BY_NAME = Object.fromEntries(CURVES.map((c) => [c.name, c]));
const VERSION = /^[0-9a-f]{32}$/;
const POLL = { intervalInMs: 100 }; // the vault deletes and recovers at once

let server;
let credential;
let principalOid;
let failures = 0;

before(async () => {
  server = await startCmk();
  const { creds } = server;
  credential = new ClientSecretCredential(
    creds.tenant_id,
    creds.client_id,
    creds.client_secret,
    clientOptions(server, { authorityHost: creds.authority, disableInstanceDiscovery: true }),
  );
  principalOid = jwtClaims((await credential.getToken(creds.management_scope)).token).oid;
  assert.ok(principalOid, "the management token carries no oid claim");
});

after(async () => {
  if (!server) return;
  const diedEarly = !server.running();
  const { code, signal } = await server.stop();
  server.agent.destroy();
  if (diedEarly) console.error(`cmk server exited during the tests (${signal || `code ${code}`})`);
  if (failures > 0 || diedEarly) console.error(`cmk server stderr (tail):\n${server.stderrTail() || "(empty)"}`);
  if (failures > 0 || diedEarly || process.env.CMK_COMPAT_KEEP_DATA === "1") {
    console.error(`cmk server data kept in ${server.workdir}`);
  } else {
    fs.rmSync(server.workdir, { recursive: true, force: true });
  }
});

/** A test that counts its failure, so that the server's stderr is shown at the end. */
function scenario(name, fn) {
  test(name, { timeout: 60_000 }, async (t) => {
    assert.ok(server?.running(), "cmk server is not running");
    try {
      await fn(t);
    } catch (err) {
      failures += 1;
      throw err;
    }
  });
}

// --- helpers -------------------------------------------------------------------------------

function unique(tag) {
  return `${tag}-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
}

/** Create a vault through ARM with the dev principal's access policy; resolves to its vaultUri. */
async function makeVault(tag, { purgeProtection = true, keys = ALL_KEY_PERMISSIONS } = {}) {
  const { creds } = server;
  const name = `${tag.slice(0, 10)}-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const token = (await credential.getToken(creds.management_scope)).token;
  const url =
    `${creds.management_endpoint.replace(/\/$/, "")}/subscriptions/${creds.subscription_id}` +
    `/resourceGroups/${creds.resource_group}/providers/Microsoft.KeyVault/vaults/${name}?api-version=${ARM_API_VERSION}`;
  const properties = {
    tenantId: creds.tenant_id,
    sku: { family: "A", name: "standard" },
    accessPolicies: [{ tenantId: creds.tenant_id, objectId: principalOid, permissions: { keys } }],
    enableRbacAuthorization: false,
    enableSoftDelete: true,
    softDeleteRetentionInDays: RETENTION_DAYS,
    ...(purgeProtection ? { enablePurgeProtection: true } : {}),
  };
  const response = await request(server, "PUT", url, {
    headers: { Authorization: `Bearer ${token}` },
    body: { location: LOCATION, properties },
  });
  assert.ok([200, 201].includes(response.status), `PUT vault ${name}: ${response.status} ${JSON.stringify(response.body)}`);
  const port = new URL(server.url).port;
  assert.equal(response.body.properties.vaultUri, `https://${name}${creds.vault_dns_suffix}:${port}/`);
  assert.equal(response.body.properties.provisioningState, "Succeeded");
  return response.body.properties.vaultUri;
}

function keyClient(vaultUrl) {
  return new KeyClient(vaultUrl, credential, clientOptions(server));
}

function cryptoClient(keyOrId) {
  return new CryptographyClient(keyOrId, credential, clientOptions(server));
}

async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** The key's public point as a Node KeyObject; Node refuses a point that is not on the curve. */
function nodePublicKey(key) {
  const curve = BY_NAME[key.key.crv];
  assert.ok(curve, `unknown curve ${key.key.crv}`);
  return crypto.createPublicKey({
    key: {
      kty: "EC",
      crv: curve.nodeCrv,
      x: Buffer.from(key.key.x).toString("base64url"),
      y: Buffer.from(key.key.y).toString("base64url"),
    },
    format: "jwk",
  });
}

function assertEcKey(key, vaultUrl, name, curve, { kty = "EC" } = {}) {
  const vault = vaultUrl.replace(/\/$/, "");
  assert.equal(key.name, name);
  assert.match(key.properties.version ?? "", VERSION);
  assert.equal(key.id, `${vault}/keys/${name}/${key.properties.version}`);
  assert.equal(key.key.kid, key.id);
  assert.equal(key.keyType, kty);
  assert.equal(key.key.crv, curve.name);
  assert.equal(key.key.x?.length, curve.size, `x of ${curve.name}`);
  assert.equal(key.key.y?.length, curve.size, `y of ${curve.name}`);
  nodePublicKey(key); // throws unless (x, y) is a point of the curve
  assert.deepEqual([...key.keyOperations].sort(), ["sign", "verify"]);
  assert.equal(key.key.d, undefined, "the key bundle leaks d");
  assert.equal(key.key.n, undefined, "an EC key bundle with n");
  assert.equal(key.properties.enabled, true);
  assert.equal(key.properties.recoverableDays, RETENTION_DAYS);
}

function digestOf(curve, data) {
  return crypto.createHash(curve.hash).update(data).digest();
}

function tampered(bytes) {
  const copy = Buffer.from(bytes);
  copy[0] ^= 0x01;
  return copy;
}

async function assertRejectedWith(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.statusCode, status, `expected ${status} ${code}, got ${err.statusCode}: ${err.message}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

// --- the harness, with what the vault does today -------------------------------------------

scenario("the SDK reaches a vault through the CA and *.localhost, and wraps and unwraps with RSA", async () => {
  const vaultUrl = await makeVault("jsrsa");
  const port = new URL(server.url).port;
  const challenge = await request(server, "GET", `${vaultUrl}keys?api-version=7.6`);
  assert.equal(challenge.status, 401);
  assert.match(challenge.headers["www-authenticate"] ?? "", new RegExp(`resource="https://vault\\.localhost:${port}"`));

  const client = keyClient(vaultUrl);
  const name = unique("rsa");
  const key = await client.createRsaKey(name, { keySize: 2048 });
  assert.equal(key.keyType, "RSA");
  assert.equal(key.key.n.length, 256);
  assert.equal((await client.getKey(name)).id, key.id);

  const secret = crypto.randomBytes(32);
  const crypt = cryptoClient(key);
  const wrapped = await crypt.wrapKey("RSA-OAEP", secret); // done locally with the public key
  assert.equal(wrapped.result.length, 256);
  const unwrapped = await crypt.unwrapKey("RSA-OAEP", wrapped.result); // done in the vault
  assert.deepEqual(Buffer.from(unwrapped.result), secret);
  const byId = await cryptoClient(key.id).unwrapKey("RSA-OAEP", wrapped.result);
  assert.deepEqual(Buffer.from(byId.result), secret);

  const data = Buffer.from("signed by the vault with RS256");
  const signed = await crypt.signData("RS256", data);
  const publicKey = crypto.createPublicKey({
    key: { kty: "RSA", n: Buffer.from(key.key.n).toString("base64url"), e: Buffer.from(key.key.e).toString("base64url") },
    format: "jwk",
  });
  assert.ok(crypto.verify("sha256", data, publicKey, Buffer.from(signed.result)));
});

// --- helloWorld: a first EC key ------------------------------------------------------------

scenario("hello world with EC keys: create, get, list, update, delete and purge", async () => {
  const vaultUrl = await makeVault("jshello", { purgeProtection: false });
  const client = keyClient(vaultUrl);
  const named = unique("ec256");
  const byType = unique("ecdef");
  const hsm = unique("echsm");

  const created = await client.createEcKey(named, { curve: "P-256" });
  assertEcKey(created, vaultUrl, named, BY_NAME["P-256"]);
  assertEcKey(await client.createKey(byType, "EC"), vaultUrl, byType, BY_NAME["P-256"]); // P-256 by default
  assertEcKey(await client.createEcKey(hsm, { curve: "P-384", hsm: true }), vaultUrl, hsm, BY_NAME["P-384"], {
    kty: "EC-HSM",
  });

  const got = await client.getKey(named);
  assert.equal(got.id, created.id);
  assert.deepEqual(got.key.x, created.key.x);
  assert.deepEqual(got.key.y, created.key.y);
  assert.equal(got.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");

  const listed = await collect(client.listPropertiesOfKeys());
  assert.deepEqual(listed.map((p) => p.name).sort(), [named, byType, hsm].sort());

  const expiresOn = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  expiresOn.setUTCMilliseconds(0);
  const updated = await client.updateKeyProperties(named, created.properties.version, {
    enabled: false,
    expiresOn,
    tags: { sample: "hello-world" },
  });
  assert.equal(updated.properties.enabled, false);
  assert.equal(updated.properties.expiresOn?.getTime(), expiresOn.getTime());
  assert.deepEqual(updated.properties.tags, { sample: "hello-world" });
  assert.equal(updated.key.crv, "P-256");
  assert.equal((await client.getKey(named)).properties.enabled, false);

  for (const name of [named, byType, hsm]) {
    const poller = await client.beginDeleteKey(name, POLL);
    const deleted = await poller.pollUntilDone();
    assert.equal(deleted.name, name);
    assert.equal(deleted.properties.recoveryId, `${vaultUrl}deletedkeys/${name}`);
  }
  const deleted = await collect(client.listDeletedKeys());
  assert.deepEqual(deleted.map((d) => d.name).sort(), [named, byType, hsm].sort());
  for (const name of [named, byType, hsm]) await client.purgeDeletedKey(name);
  await assertRejectedWith(client.getDeletedKey(named), 404, "KeyNotFound");
  assert.deepEqual(await collect(client.listDeletedKeys()), []);
  assert.deepEqual(await collect(client.listPropertiesOfKeys()), []);
});

// --- keyRotation: a rotation policy and a rotated EC key -----------------------------------

scenario("key rotation of an EC key: policy set and read, rotate keeps the curve, delete and recover", async () => {
  const vaultUrl = await makeVault("jsrotate");
  const client = keyClient(vaultUrl);
  const name = unique("ecrot");
  const first = await client.createEcKey(name, { curve: "P-384" });
  assertEcKey(first, vaultUrl, name, BY_NAME["P-384"]);

  const policy = await client.updateKeyRotationPolicy(name, {
    lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }],
    expiresIn: "P1Y",
  });
  assert.equal(policy.expiresIn, "P1Y");
  assert.ok(policy.lifetimeActions.some((a) => a.action === "Rotate" && a.timeAfterCreate === "P90D"), policy);
  const read = await client.getKeyRotationPolicy(name);
  assert.equal(read.expiresIn, "P1Y");
  assert.ok(read.lifetimeActions.some((a) => a.action === "Rotate" && a.timeAfterCreate === "P90D"), read);
  const changed = await client.updateKeyRotationPolicy(name, {
    lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }],
    expiresIn: "P90D",
  });
  assert.equal(changed.expiresIn, "P90D");
  assert.ok(changed.lifetimeActions.some((a) => a.action === "Rotate" && a.timeBeforeExpiry === "P30D"), changed);

  const rotated = await client.rotateKey(name);
  assert.notEqual(rotated.properties.version, first.properties.version);
  assertEcKey(rotated, vaultUrl, name, BY_NAME["P-384"]);
  assert.notDeepEqual(rotated.key.x, first.key.x, "a rotation makes a new key");
  assert.equal((await client.getKey(name)).id, rotated.id);
  const versions = await collect(client.listPropertiesOfKeyVersions(name));
  assert.deepEqual(versions.map((p) => p.version).sort(), [first.properties.version, rotated.properties.version].sort());

  const deleted = await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
  assert.equal(deleted.key.crv, "P-384");
  await assertRejectedWith(client.getKey(name), 404, "KeyNotFound");
  // Purge protection is on: the deleted key can be recovered, not purged.
  await assert.rejects(client.purgeDeletedKey(name), (err) => err.statusCode === 403);
  const recovered = await (await client.beginRecoverDeletedKey(name, POLL)).pollUntilDone();
  assert.equal(recovered.id, rotated.id);
  assert.deepEqual((await client.getKey(name)).key.x, rotated.key.x);
  assert.equal((await client.getKeyRotationPolicy(name)).expiresIn, "P90D");
});

// --- ECDSA on every curve ------------------------------------------------------------------

scenario("sign in the vault on every curve, verify in the vault and with Node's crypto", async () => {
  const vaultUrl = await makeVault("jssign");
  const client = keyClient(vaultUrl);
  for (const curve of CURVES) {
    const name = unique("ecsign");
    const key = await client.createEcKey(name, { curve: curve.name });
    assertEcKey(key, vaultUrl, name, curve);
    const crypt = cryptoClient(key);
    const data = Buffer.from(`signed with ${curve.algorithm} on ${curve.name}`);
    const digest = digestOf(curve, data);

    const signed = await crypt.sign(curve.algorithm, digest);

    assert.equal(signed.keyID, key.id);
    assert.equal(signed.result.length, 2 * curve.size, `${curve.name}: r||s of ${signed.result.length} bytes`);
    const signature = Buffer.from(signed.result);
    const publicKey = nodePublicKey(key);
    assert.ok(
      crypto.verify(curve.hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature),
      `Node rejects the vault's ${curve.algorithm} signature`,
    );
    assert.ok(!crypto.verify(curve.hash, tampered(data), { key: publicKey, dsaEncoding: "ieee-p1363" }, signature));
    // The SDK has no local ECDSA: verify goes to the vault.
    assert.equal((await crypt.verify(curve.algorithm, digest, signature)).result, true);
    assert.equal((await crypt.verify(curve.algorithm, tampered(digest), signature)).result, false);
    // signData hashes in the SDK and signs the digest in the vault.
    const fromData = await crypt.signData(curve.algorithm, data);
    assert.ok(crypto.verify(curve.hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(fromData.result)));
    assert.equal((await crypt.verifyData(curve.algorithm, data, fromData.result)).result, true);
  }
});

scenario("an EC key made by Node is imported; the vault verifies what Node signs", async () => {
  const vaultUrl = await makeVault("jsimport");
  const client = keyClient(vaultUrl);
  for (const curve of [BY_NAME["P-256"], BY_NAME["P-384"]]) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: curve.nodeCrv });
    const jwk = privateKey.export({ format: "jwk" });
    const name = unique("ecimp");

    const imported = await client.importKey(name, {
      kty: "EC",
      crv: curve.name,
      x: Buffer.from(jwk.x, "base64url"),
      y: Buffer.from(jwk.y, "base64url"),
      d: Buffer.from(jwk.d, "base64url"),
      keyOps: ["sign", "verify"],
    });

    assertEcKey(imported, vaultUrl, name, curve);
    assert.equal(Buffer.from(imported.key.x).toString("base64url"), jwk.x);
    const data = Buffer.from("signed by Node, verified by the vault");
    const signature = crypto.sign(curve.hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    const crypt = cryptoClient(imported);
    assert.equal((await crypt.verify(curve.algorithm, digestOf(curve, data), signature)).result, true);
    assert.equal((await crypt.verify(curve.algorithm, digestOf(curve, tampered(data)), signature)).result, false);
    const vaultSigned = await crypt.signData(curve.algorithm, data);
    assert.ok(crypto.verify(curve.hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(vaultSigned.result)));
  }
});

scenario("the vault refuses an algorithm of another curve and a digest of the wrong length", async () => {
  const vaultUrl = await makeVault("jsrefuse");
  const client = keyClient(vaultUrl);
  const key = await client.createEcKey(unique("ecbad"), { curve: "P-256" });
  const crypt = cryptoClient(key);

  // ES384 wants a 48-byte digest, which this is: only the curve is wrong.
  await assertRejectedWith(crypt.sign("ES384", crypto.createHash("sha384").update("x").digest()), 400, "BadParameter");
  await assertRejectedWith(crypt.sign("ES256", crypto.createHash("sha1").update("x").digest()), 400, "BadParameter");
  await assertRejectedWith(client.createEcKey(unique("ecbad"), { curve: "P-192" }), 400, "BadParameter");
  // The vault gives an EC key sign and verify only, so the SDK will not even try to wrap with it.
  await assert.rejects(crypt.wrapKey("RSA-OAEP", crypto.randomBytes(32)), /wrapKey is not supported/);
});
