# Sourced by scripts/up and scripts/test: make ./.venv with the project installed.
# Usage: . scripts/bootstrap.sh [extras]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "messenger needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c 'import messenger' || { echo "installation failed" >&2; exit 1; }
