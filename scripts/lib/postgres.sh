# shellcheck shell=bash
# A throwaway PostgreSQL server for the store tests (crates/cmk-store-postgres).
#
# Source this file, then call `start_test_postgres`. It looks for PostgreSQL's server binaries
# (CMK_PG_BINDIR if set, else the newest /usr/lib/postgresql/<version>/bin as on Debian, else initdb on PATH),
# creates a scratch cluster in a fresh temporary folder, starts it on a free port of 127.0.0.1 with its unix
# socket inside that folder and trust authentication (it is reachable from this machine only and holds nothing
# but test schemas), waits until it accepts connections, and exports
#   CMK_TEST_POSTGRES_URL=postgres://<user>@127.0.0.1:<port>/postgres
# `stop_test_postgres` stops the server and removes the folder; it also runs on shell exit (an EXIT trap that
# keeps any EXIT trap already set).
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (runuser or su).
# It never touches the system's own clusters and installs nothing. Without the server binaries it prints a
# notice and returns 1: the caller decides whether that is fatal (CI treats it as a failure).
#
# If CMK_TEST_POSTGRES_URL is already set (a server provided from outside), it is used as it is.

start_test_postgres() {
    if [ -n "${CMK_TEST_POSTGRES_URL:-}" ]; then
        echo "start_test_postgres: using the server already named by CMK_TEST_POSTGRES_URL" >&2
        return 0
    fi

    local bindir
    bindir="$(_cmk_pg_find_bindir)" || {
        echo "start_test_postgres: PostgreSQL server binaries (initdb, pg_ctl) not found;" \
            "install them (Debian: apt-get install postgresql) or set CMK_PG_BINDIR" >&2
        return 1
    }

    local owner
    if [ "$(id -u)" -eq 0 ]; then
        owner=postgres
        if ! id -u "$owner" >/dev/null 2>&1; then
            echo "start_test_postgres: running as root needs a '$owner' user to own the cluster" >&2
            return 1
        fi
    else
        owner="$(id -un)" || return 1
    fi

    local dir
    dir="$(_cmk_pg_make_dir "$owner")" || return 1
    _CMK_PG_DIR="$dir"
    _CMK_PG_BINDIR="$bindir"
    _cmk_pg_register_cleanup

    # An ICU default collation (PostgreSQL 15+) that differs from byte order, so a key column that forgot
    # COLLATE "C" fails the ordering tests instead of passing by luck. Plain C.UTF-8 where ICU is unavailable.
    if ! _cmk_pg_as "$owner" "$dir" "$bindir/initdb" -D "$dir/data" -U "$owner" --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --locale-provider=icu --icu-locale=en-US --no-sync \
        >"$dir/initdb.log" 2>&1; then
        rm -rf "${dir:?}/data"
        if ! _cmk_pg_as "$owner" "$dir" "$bindir/initdb" -D "$dir/data" -U "$owner" --auth=trust \
            --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
            cat "$dir/initdb.log" >&2
            echo "start_test_postgres: initdb failed" >&2
            stop_test_postgres
            return 1
        fi
    fi

    # A port that looks free can be taken before the server binds it: try a few.
    local attempt port started=""
    for attempt in 1 2 3 4 5; do
        port="$(_cmk_pg_free_port)" || break
        if _cmk_pg_as "$owner" "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c unix_socket_permissions=0700 -c max_connections=300" \
            start >"$dir/pg_ctl.log" 2>&1; then
            started=yes
            break
        fi
        echo "start_test_postgres: start attempt $attempt on port $port failed" >&2
    done
    if [ -z "$started" ]; then
        if [ -f "$dir/server.log" ]; then tail -n 20 "$dir/server.log" >&2; fi
        echo "start_test_postgres: the server did not start" >&2
        stop_test_postgres
        return 1
    fi

    local tries=0
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$owner" -d postgres; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            echo "start_test_postgres: the server on port $port is not ready after 30 s" >&2
            stop_test_postgres
            return 1
        fi
        sleep 0.5
    done

    _CMK_PG_OWNER="$owner"
    export CMK_TEST_POSTGRES_URL="postgres://$owner@127.0.0.1:$port/postgres"
    echo "start_test_postgres: PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

# Stops the server started by start_test_postgres and removes its folder. Safe to call more than once.
stop_test_postgres() {
    local dir="${_CMK_PG_DIR:-}" bindir="${_CMK_PG_BINDIR:-}" owner="${_CMK_PG_OWNER:-}"
    if [ -z "$dir" ]; then
        return 0
    fi
    if [ -z "$owner" ]; then
        if [ "$(id -u)" -eq 0 ]; then owner=postgres; else owner="$(id -un)"; fi
    fi
    if [ -n "$bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
        # Immediate: the data is thrown away next, so there is nothing to shut down cleanly for.
        _cmk_pg_as "$owner" "$dir" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    unset _CMK_PG_DIR _CMK_PG_BINDIR _CMK_PG_OWNER CMK_TEST_POSTGRES_URL
}

# The newest folder of PostgreSQL server binaries.
_cmk_pg_find_bindir() {
    if [ -n "${CMK_PG_BINDIR:-}" ]; then
        if [ -x "$CMK_PG_BINDIR/initdb" ] && [ -x "$CMK_PG_BINDIR/pg_ctl" ]; then
            echo "$CMK_PG_BINDIR"
            return 0
        fi
        echo "start_test_postgres: CMK_PG_BINDIR=$CMK_PG_BINDIR has no initdb and pg_ctl" >&2
        return 1
    fi
    local candidate best=""
    for candidate in /usr/lib/postgresql/*/bin; do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/postgres" ]; then
            best="$(printf '%s\n%s\n' "$best" "$candidate" | sed '/^$/d' | sort -V | tail -n 1)"
        fi
    done
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        best="$(dirname "$(command -v initdb)")"
    fi
    if [ -z "$best" ]; then
        return 1
    fi
    echo "$best"
}

# A fresh folder the cluster's owner can use. As root, the temp folder must be reachable by that user too,
# which a private TMPDIR may not be; /tmp is the fallback.
_cmk_pg_make_dir() {
    local owner="$1" dir base
    for base in "${TMPDIR:-/tmp}" /tmp; do
        dir="$(mktemp -d "$base/cmk-pg.XXXXXX")" || continue
        if [ "$(id -u)" -eq 0 ]; then
            chown "$owner" "$dir" || { rm -rf "$dir"; continue; }
            if ! _cmk_pg_as "$owner" "$dir" test -w "$dir"; then
                rm -rf "$dir"
                continue
            fi
        fi
        chmod 700 "$dir"
        echo "$dir"
        return 0
    done
    echo "start_test_postgres: could not make a temporary folder for the cluster" >&2
    return 1
}

# Runs a command as the cluster's owner, from inside the cluster's folder (root's working directory is often
# unreadable to that user, and initdb and pg_ctl complain about it).
_cmk_pg_as() {
    local owner="$1" dir="$2"
    shift 2
    if [ "$(id -u)" -ne 0 ]; then
        (cd "$dir" && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd "$dir" && runuser -u "$owner" -- "$@")
    else
        (cd "$dir" && su "$owner" -s /bin/bash -c "$(printf '%q ' "$@")")
    fi
}

# A TCP port on 127.0.0.1 that nothing answers on right now.
_cmk_pg_free_port() {
    local tries port
    for tries in $(seq 1 50); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "start_test_postgres: no free port found after $tries tries" >&2
    return 1
}

# Stops the server when the shell that sourced this file exits, keeping an EXIT trap the caller already set.
_cmk_pg_register_cleanup() {
    local existing
    existing="$(trap -p EXIT)"
    case "$existing" in
        *stop_test_postgres*) return 0 ;;
    esac
    if [ -z "$existing" ]; then
        trap 'stop_test_postgres' EXIT
    else
        # `trap -p` prints a quoted command line: trap -- 'COMMAND' EXIT.
        eval "set -- $existing"
        trap "stop_test_postgres; $3" EXIT
    fi
}
