#!/usr/bin/env bash
# cnnlab's two commands. Both create .venv if it is missing and install what they need into it.
#   ./course.sh lab    open JupyterLab on your copy of the lessons, at lesson 00
#   ./course.sh test   run the whole test suite (what CI runs)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CNNLAB_VENV:-$ROOT/.venv}"
FLOOR_VENV="${CNNLAB_FLOOR_VENV:-$ROOT/.venv-floor}"
WORK="${CNNLAB_WORK:-$ROOT/workspace}"
PY="$VENV/bin/python"
LESSON0="notebooks/00_setup_and_tour.ipynb"

usage() {
    cat <<EOF
usage: ./course.sh COMMAND [options]

commands:
  lab    set up .venv (cnnlab and JupyterLab) and open JupyterLab at lesson 00, on your own
         copies in workspace/; options go to JupyterLab, e.g. ./course.sh lab --port 8899
  test   set up .venv (cnnlab and its test tools) and run the whole test suite, what CI
         runs; options go to pytest, e.g. ./course.sh test -k data
EOF
}

setup() {
    # $1: the extra to install, lab or dev (dev includes lab).
    local extra="$1" stamp want
    if [ ! -x "$PY" ]; then
        echo "== creating virtual environment $VENV"
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    # Reinstall only when the declared dependencies change: pip is slow even when nothing is new.
    stamp="$VENV/.cnnlab-installed-$extra"
    want="$(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== installing cnnlab[$extra] into $VENV (a few minutes the first time)"
        "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$extra]"
        echo "$want" > "$stamp"
        if [ "$extra" = dev ]; then echo "$want" > "$VENV/.cnnlab-installed-lab"; fi
    fi
    # The venv's own kernelspecs come first, so a stray user 'python3' kernel cannot take over.
    export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
}

copy_lessons() {
    # Learners and instructors work on copies, so the stored lessons keep their full-run outputs.
    # A copy is made once; delete it to get the current version of that notebook.
    local folder nb
    for folder in notebooks exercises; do
        mkdir -p "$WORK/$folder"
        for nb in "$ROOT/$folder"/*.ipynb; do
            [ -e "$WORK/$folder/${nb##*/}" ] || cp "$nb" "$WORK/$folder/"
        done
    done
}

lab() {
    local port="${JUPYTER_PORT:-8888}" ip="localhost" arg prev="" root_flag=()
    for arg in "$@"; do
        case "$prev" in --port|--ServerApp.port) port="$arg" ;; --ip|--ServerApp.ip) ip="$arg" ;; esac
        case "$arg" in
            --port=*|--ServerApp.port=*) port="${arg#*=}" ;;
            --ip=*|--ServerApp.ip=*) ip="${arg#*=}" ;;
        esac
        prev="$arg"
    done
    setup lab
    copy_lessons
    # JupyterLab would silently move to another port; say so instead (port_retries=0 below
    # covers a port taken between this check and JupyterLab's start).
    if [ "$port" != 0 ] && ! "$PY" - "$ip" "$port" <<'EOF'
import socket, sys
host, port = ("127.0.0.1" if sys.argv[1] in ("localhost", "") else sys.argv[1]), int(sys.argv[2])
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as JupyterLab binds
    try:
        s.bind((host, port))
    except OSError:
        sys.exit(1)
EOF
    then
        echo "course.sh lab: port $port is already in use (another JupyterLab?). Stop that server," \
             "or choose a free port: ./course.sh lab --port 8899" >&2
        exit 1
    fi
    # JupyterLab refuses to run as root (Docker, cloud VMs) unless told it may.
    if [ "$(id -u)" = 0 ]; then root_flag=(--allow-root); fi
    echo "== JupyterLab on your copies in $WORK (the stored lessons stay untouched)"
    echo "== open lesson 00 at the URL printed below (http://$ip:$port/lab/tree/$LESSON0 with a token)"
    exec "$VENV/bin/jupyter" lab --ServerApp.root_dir="$WORK" --LabApp.default_url="/lab/tree/$LESSON0" \
        --ServerApp.port_retries=0 ${root_flag[@]+"${root_flag[@]}"} "$@"
}

browser() {
    # The browser test drives Debian's Chromium; install it where we may.
    if ! command -v chromium >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "== installing Debian's chromium for the browser test"
            (apt-get install -y -qq chromium >/dev/null 2>&1 || \
             { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) || \
                echo "   could not install chromium (the browser test needs it)"
        else
            echo "== chromium not found: the browser test needs Debian's 'chromium'"
        fi
    fi
}

pytest_pass() {
    # Run pytest; with the caller's own selection (-k ...) a pass may select no test (exit 5).
    local rc=0
    "$@" || rc=$?
    if [ "$rc" = 5 ] && [ "$SELECTION" = 1 ]; then echo "   (no test of this pass selected)"; return 0; fi
    return "$rc"
}

suite() {
    setup dev
    browser
    cd "$ROOT"
    export CNNLAB_PROFILE=smoke PYTHONHASHSEED=0
    SELECTION=$([ "$#" -gt 0 ] && echo 1 || echo 0)
    local start=$SECONDS floor_tests=() f
    echo "== 1/3 test suite on TensorFlow: every notebook once in the smoke profile, its checked cells compared"
    pytest_pass "$VENV/bin/pytest" -n 2 --dist loadscope cnnlab tests "$@"
    echo "== 2/3 backend-agnostic tests, lessons and solutions again on JAX"
    KERAS_BACKEND=jax pytest_pass "$VENV/bin/pytest" -n 2 --dist loadscope -m backends tests "$@"
    echo "== 3/3 widget tests and lesson 00 on the dependency floors (what Colab ships)"
    "$PY" "$ROOT/scripts/floor_env.py" "$FLOOR_VENV"
    for f in tests/test_widgets.py tests/test_playground.py tests/test_conv_explorer.py; do
        if [ -e "$f" ]; then floor_tests+=("$f"); fi
    done
    pytest_pass "$FLOOR_VENV/bin/python" -m pytest -n 2 --dist loadscope "${floor_tests[@]}" \
        tests/test_notebooks.py::TestRun_notebooks_00_setup_and_tour \
        tests/test_packaging.py::test_plain_install_upgrades_nothing_where_the_floors_are_met "$@"
    echo "== the whole suite took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
}

case "${1:-}" in
    lab) shift; lab "$@" ;;
    test) shift; suite "$@" ;;
    -h|--help|help) usage ;;
    "") echo "course.sh: no command given" >&2; usage >&2; exit 2 ;;
    *) echo "course.sh: unknown command '$1'" >&2; usage >&2; exit 2 ;;
esac
