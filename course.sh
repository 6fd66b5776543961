#!/usr/bin/env bash
# cnnlab's two commands. Both create .venv if it is missing and install the course into it.
#   ./course.sh lab    open JupyterLab on the lessons
#   ./course.sh test   run the whole test suite (what CI runs)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CNNLAB_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        echo "== creating virtual environment $VENV"
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    # Reinstall only when the declared dependencies change: pip is slow even when nothing is new.
    local stamp="$VENV/.cnnlab-installed" want
    want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== installing cnnlab and its dependencies into $VENV (a few minutes the first time)"
        "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]"
        echo "$want" > "$stamp"
    fi
    # The venv's own kernelspecs come first, so a stray user 'python3' kernel cannot take over.
    export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
}

browser() {
    # The browser test drives Debian's Chromium; install it where we may, otherwise it skips.
    if ! command -v chromium >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "== installing Debian's chromium for the browser test"
            (apt-get install -y -qq chromium >/dev/null 2>&1 || \
             { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) || \
                echo "   could not install chromium: the browser test will be skipped"
        else
            echo "== chromium not found: the browser test will be skipped (install Debian's 'chromium')"
        fi
    fi
}

case "${1:-}" in
    lab)
        shift
        setup
        exec "$VENV/bin/jupyter" lab --ServerApp.root_dir="$ROOT" \
            --ServerApp.default_url=/lab/tree/notebooks/00_setup_and_tour.ipynb "$@"
        ;;
    test)
        shift
        setup
        browser
        cd "$ROOT"
        export CNNLAB_PROFILE=smoke PYTHONHASHSEED=0
        echo "== test suite (TensorFlow backend, notebooks in the smoke profile)"
        "$VENV/bin/pytest" -n 2 --dist loadscope cnnlab tests notebooks \
            --nbval-lax --nbval-current-env "$@"
        echo "== backend-agnostic tests again on JAX"
        KERAS_BACKEND=jax "$VENV/bin/pytest" -n 2 -m backends tests -p no:nbval "$@"
        ;;
    *)
        echo "usage: ./course.sh lab | test   (see README.md)" >&2
        exit 2
        ;;
esac
