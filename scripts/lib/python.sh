# shellcheck shell=bash
# Python environment for the compatibility tests (tests/compat).
#
# Source this file, then call `ensure_compat_venv`. It creates <repo>/.venv with
# `python3 -m venv` if it is missing (or broken) and installs
# tests/compat/requirements.txt, constrained by tests/compat/requirements.lock,
# whenever either file (or the Python version) changed since the last install.
# A hash of those inputs is kept in .venv/.compat-requirements.sha256.
# On success it exports COMPAT_PYTHON=<repo>/.venv/bin/python.
# COMPAT_BASE_PYTHON names the interpreter that creates the venv (default python3).
#
# Only pip talks to the network, and only to the package index it is set up for.

ensure_compat_venv() {
    local repo venv req lock stamp want log python_bin
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || return 1
    venv="$repo/.venv"
    req="$repo/tests/compat/requirements.txt"
    lock="$repo/tests/compat/requirements.lock"
    stamp="$venv/.compat-requirements.sha256"
    python_bin="${COMPAT_BASE_PYTHON:-python3}"

    if ! command -v "$python_bin" >/dev/null 2>&1; then
        echo "ensure_compat_venv: '$python_bin' not found; install Python 3.10 or newer (Debian: apt-get install python3 python3-venv)" >&2
        return 1
    fi
    if ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
        echo "ensure_compat_venv: the compatibility tests need Python 3.10 or newer; '$python_bin' is $("$python_bin" -V 2>&1)" >&2
        return 1
    fi

    log="$(mktemp)" || return 1

    # (Re)create the venv when it has no working interpreter or no pip, e.g. after
    # an interrupted creation or an upgrade of the system Python.
    if ! "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
        rm -rf "$venv"
        if ! "$python_bin" -m venv "$venv" >"$log" 2>&1; then
            cat "$log" >&2
            rm -rf "$venv" "$log"
            echo "ensure_compat_venv: '$python_bin -m venv' failed." >&2
            echo "ensure_compat_venv: on Debian/Ubuntu install the venv support first: apt-get install python3-venv" >&2
            return 1
        fi
    fi

    want="$(
        {
            "$venv/bin/python" -c 'import sys; print(sys.version)'
            cat "$req"
            if [ -f "$lock" ]; then cat "$lock"; fi
        } | sha256sum | cut -d' ' -f1
    )" || { rm -f "$log"; return 1; }

    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        local -a args=(-r "$req")
        if [ -f "$lock" ]; then args+=(-c "$lock"); fi
        rm -f "$stamp"
        if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "ensure_compat_venv: installing $req into $venv failed" >&2
            return 1
        fi
        echo "$want" >"$stamp"
    fi

    rm -f "$log"
    export COMPAT_PYTHON="$venv/bin/python"
}
