# shellcheck shell=bash
# Node.js environment for the JavaScript compatibility tests (tests/compat-js).
#
# Source this file, then call `ensure_compat_node`. It checks that node (20 or newer: the pinned
# @azure packages and their dependencies require it) and npm are installed, then runs `npm ci` in
# tests/compat-js whenever package.json, package-lock.json or the Node version changed since the
# last install. npm ci installs exactly what package-lock.json pins (from npm's cache when it has
# them) and never rewrites the lock. A hash of those inputs is kept in
# tests/compat-js/node_modules/.compat-lock.sha256, which goes away with node_modules.
# On success it exports COMPAT_NODE=<path of node>.
# COMPAT_NODE_BIN names the node to use (default: node on PATH); npm is the one on PATH.
#
# To change a pinned version: edit package.json, run `npm install --save-exact` in tests/compat-js,
# and commit package.json together with the package-lock.json it wrote.
#
# Only npm talks to the network, and only to the registry it is set up for.

ensure_compat_node() {
    local repo dir stamp want log node_bin major
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || return 1
    dir="$repo/tests/compat-js"
    stamp="$dir/node_modules/.compat-lock.sha256"
    node_bin="${COMPAT_NODE_BIN:-node}"

    if ! node_bin="$(command -v "$node_bin")"; then
        echo "ensure_compat_node: '${COMPAT_NODE_BIN:-node}' not found; install Node.js 20 or newer with npm (Debian: apt-get install nodejs npm)" >&2
        return 1
    fi
    major="$("$node_bin" -p 'process.versions.node.split(".")[0]')" || return 1
    if [ "$major" -lt 20 ]; then
        echo "ensure_compat_node: the JavaScript compatibility tests need Node.js 20 or newer; '$node_bin' is $("$node_bin" --version)" >&2
        return 1
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "ensure_compat_node: npm not found; install it (Debian: apt-get install npm)" >&2
        return 1
    fi

    want="$(
        {
            "$node_bin" --version
            cat "$dir/package.json" "$dir/package-lock.json"
        } | sha256sum | cut -d' ' -f1
    )" || return 1

    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log="$(mktemp)" || return 1
        if ! (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --no-update-notifier --loglevel=error) >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "ensure_compat_node: npm ci in $dir failed" >&2
            return 1
        fi
        rm -f "$log"
        echo "$want" >"$stamp"
    fi

    export COMPAT_NODE="$node_bin"
}
