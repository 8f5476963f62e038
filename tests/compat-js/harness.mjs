// The harness of the JavaScript compatibility tests: starts a real `cmk server --dev`, and builds the
// options every Azure SDK client gets so that it reaches that server the way a user's would reach Azure.
//
// The server is started as
//
//     $CMK_BIN server --dev --data-dir <fresh temp dir> --listen 127.0.0.1:0
//
// (CMK_BIN defaults to <repo>/target/debug/cmk). The harness waits for the stdout line
// `cmk: ready at https://localhost:<port>`, then reads <data dir>/dev-credentials.json.
//
// Two things differ from Azure, and both are handled by one https.Agent that every SDK client is given
// through its documented `agent` pipeline option (it takes precedence over any proxy agent):
//
// * The server's certificate is signed by the CA in `ca_file` of dev-credentials.json. NODE_EXTRA_CA_CERTS
//   is read only when a Node process starts, which is before the server has written its CA, so the agent
//   carries the CA itself (`ca`), and trusts nothing else.
// * Vaults are served at https://{vault}.vault.localhost:{port}. glibc (and so Node's dns.lookup) does
//   not resolve subdomains of localhost here, so the agent's `lookup` answers 127.0.0.1 for every
//   `*.localhost` name and leaves every other name to dns.lookup. TLS still checks the certificate
//   against the vault's host name, and the Host header still names it.
//
// Environment variables: CMK_BIN, CMK_READY_TIMEOUT (seconds, default 60), CMK_COMPAT_KEEP_DATA=1 (keep
// the server's data directory; it is always kept when a test failed).

import { spawn } from "node:child_process";
import dns from "node:dns";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const READY_PREFIX = "cmk: ready at ";
const READY_TIMEOUT_MS = 1000 * Number(process.env.CMK_READY_TIMEOUT || 60);
const STOP_TIMEOUT_MS = 5000;
const CREDENTIAL_KEYS = [
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
];

/** dns.lookup, except that every `*.localhost` name is the loopback address (both callback forms). */
export function loopbackLookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  const name = String(hostname).toLowerCase().replace(/\.$/, "");
  if (name.endsWith(".localhost")) {
    const family = typeof options === "number" ? options : options.family;
    if (family === 6) {
      return process.nextTick(callback, Object.assign(new Error(`no IPv6 address for ${hostname}`), { code: "ENOTFOUND" }));
    }
    if (options.all) {
      return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
    }
    return process.nextTick(callback, null, "127.0.0.1", 4);
  }
  return dns.lookup(hostname, options, callback);
}

/** Start `cmk server --dev` and resolve to a handle once it is ready and its credentials are read. */
export async function startCmk() {
  const binary = process.env.CMK_BIN || path.join(REPO_ROOT, "target", "debug", "cmk");
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    throw new Error(`cmk binary not found or not executable: ${binary} (run \`cargo build -p cmk\` or set CMK_BIN)`);
  }
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "cmk-compat-js-"));
  const dataDir = path.join(workdir, "data");
  fs.mkdirSync(dataDir);
  const stderrPath = path.join(workdir, "server.stderr.log");
  const stderrFd = fs.openSync(stderrPath, "w");
  const command = [binary, "server", "--dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0"];
  const child = spawn(command[0], command.slice(1), {
    cwd: workdir,
    stdio: ["ignore", "pipe", stderrFd],
    detached: true, // its own process group, so that stop() reaches whatever it started
  });
  fs.closeSync(stderrFd);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const stdoutLines = [];

  const server = {
    workdir,
    dataDir,
    command,
    child,
    exited,
    stdoutLines,
    running: () => child.exitCode === null && child.signalCode === null,
    stderrTail(lines = 40) {
      try {
        const text = fs.readFileSync(stderrPath, "utf8").replace(/\x1b\[[0-9;]*m/g, ""); // no colour codes
        return text.trimEnd().split("\n").slice(-lines).join("\n");
      } catch (err) {
        return `(cannot read server stderr: ${err.message})`;
      }
    },
    describe() {
      return [
        `command: ${command.join(" ")}`,
        `stdout (tail):\n${stdoutLines.slice(-20).join("\n")}`,
        `stderr (tail):\n${server.stderrTail() || "(empty)"}`,
      ].join("\n");
    },
    async stop() {
      if (server.running()) {
        signalGroup(child, "SIGTERM");
        const timer = setTimeout(() => signalGroup(child, "SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };

  let url;
  try {
    url = await waitReady(child, exited, stdoutLines);
  } catch (err) {
    await server.stop();
    throw new Error(`${err.message}\n${server.describe()}\n(data kept in ${workdir})`);
  }

  const credsPath = path.join(dataDir, "dev-credentials.json");
  const creds = JSON.parse(fs.readFileSync(credsPath, "utf8"));
  const missing = CREDENTIAL_KEYS.filter((k) => !creds[k]);
  if (missing.length) {
    await server.stop();
    throw new Error(`${credsPath} lacks keys: ${missing.join(", ")}`);
  }
  const port = (u) => new URL(u).port || "443";
  for (const key of ["authority", "management_endpoint"]) {
    if (port(creds[key]) !== port(url)) {
      await server.stop();
      throw new Error(`${key} ${creds[key]} is not on the port of the ready line ${url}`);
    }
  }

  const agent = new https.Agent({
    ca: fs.readFileSync(creds.ca_file),
    lookup: loopbackLookup,
    keepAlive: true,
  });
  Object.assign(server, { url, creds, agent });
  return server;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function waitReady(child, exited, stdoutLines) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, value) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        fn(value);
      }
    };
    const timer = setTimeout(
      () => finish(reject, new Error(`cmk server printed no '${READY_PREFIX}...' line within ${READY_TIMEOUT_MS / 1000} s`)),
      READY_TIMEOUT_MS,
    );
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length > 200) stdoutLines.shift();
      if (line.startsWith(READY_PREFIX)) finish(resolve, line.slice(READY_PREFIX.length).trim());
    });
    child.once("error", (err) => finish(reject, new Error(`cannot start cmk: ${err.message}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`cmk server exited (${signal || `code ${code}`}) before it was ready`)),
    );
  });
}

/** Options for every SDK client and credential: the server's agent, and failing fast instead of
 * the SDK's default retries. */
export function clientOptions(server, extra = {}) {
  return {
    agent: server.agent,
    retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 2000 },
    ...extra,
  };
}

/** The JSON payload of a JWT, not verified. */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

/** One HTTPS request through the server's agent; resolves to { status, headers, body (parsed JSON or text) }. */
export function request(server, method, url, { headers = {}, body } = {}) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(url),
      {
        method,
        agent: server.agent,
        headers: {
          Accept: "application/json",
          ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}),
          ...headers,
        },
        timeout: 30000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer within 30 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}
