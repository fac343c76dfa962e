#!/usr/bin/env bash
# Real-VS-Code end-to-end test of the Codeward extension:
#   code-server (from npm, on node 24 from npm) + the packaged .vsix installed offline
#   + the real `codeward serve` with the tiny test model + playwright-core driving Debian's
#   chromium (see e2e.mjs for the steps).
# Tools are installed once into $CODEWARD_E2E_TOOLS (default ~/.cache/codeward-e2e): the first
# run needs the npm registry, Debian packages (chromium, build tools for code-server's native
# modules) and about 5 minutes; later runs start in seconds.
# Output (screenshots, result.json, logs) goes to $E2E_OUT (default extension/out/e2e).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXT="$(dirname "$HERE")"
ROOT="$(dirname "$EXT")"
TOOLS="${CODEWARD_E2E_TOOLS:-$HOME/.cache/codeward-e2e}"
PYTHON="${CODEWARD_PYTHON:-$ROOT/.venv/bin/python}"
OUT="${E2E_OUT:-$EXT/out/e2e}"
NODE24_VERSION="${NODE24_VERSION:-24}"
CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
START=$(date +%s)
say() { echo "[e2e.sh $(($(date +%s) - START))s] $*"; }

[ -x "$PYTHON" ] || { echo "e2e.sh: no Python at $PYTHON (set CODEWARD_PYTHON)" >&2; exit 2; }

# -- tools ---------------------------------------------------------------------------------
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ! -x "$TOOLS/cs/node_modules/.bin/code-server" ]; then
  command -v make >/dev/null && command -v g++ >/dev/null || need_apt+=(build-essential)
  command -v pkg-config >/dev/null || need_apt+=(pkg-config)
  [ -f /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" != 0 ]; then echo "e2e.sh: need root for apt-get install ${need_apt[*]}" >&2; exit 2; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
NODE24="$TOOLS/node24/node_modules/node/bin/node"
if [ ! -x "$NODE24" ]; then
  say "installing node $NODE24_VERSION from npm"
  mkdir -p "$TOOLS/node24"
  npm install --no-audit --no-fund --prefix "$TOOLS/node24" "node@$NODE24_VERSION" >/dev/null
fi
NODE24_BIN="$(dirname "$NODE24")"
if [ ! -x "$TOOLS/cs/node_modules/.bin/code-server" ]; then
  say "installing code-server $CODE_SERVER_VERSION (builds native modules: a few minutes)"
  mkdir -p "$TOOLS/cs"
  PATH="$NODE24_BIN:$PATH" npm install --no-audit --no-fund --prefix "$TOOLS/cs" \
    "code-server@$CODE_SERVER_VERSION" >"$TOOLS/code-server-install.log" 2>&1 \
    || { tail -40 "$TOOLS/code-server-install.log" >&2; exit 2; }
fi
if [ ! -d "$TOOLS/pw/node_modules/playwright-core" ]; then
  say "installing playwright-core $PLAYWRIGHT_VERSION"
  mkdir -p "$TOOLS/pw"
  npm install --no-audit --no-fund --prefix "$TOOLS/pw" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi
CODE_SERVER=("$NODE24" "$TOOLS/cs/node_modules/code-server/out/node/entry.js")

# -- the extension and the model ----------------------------------------------------------
cd "$EXT"
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null
if [ -z "${E2E_SKIP_PACKAGE:-}" ] || [ ! -f codeward.vsix ]; then
  say "packaging the extension"
  npm run -s package >/dev/null
fi
say "building the tiny test model (cached)"
MODEL="$(cd "$ROOT" && HF_HUB_OFFLINE=1 "$PYTHON" -c \
  "import sys; sys.path.insert(0, 'tests'); from models import tiny_model; print(tiny_model('taught'))" | tail -1)"

# -- a fresh VS Code profile and workspace -------------------------------------------------
RUN="$(mktemp -d "${TMPDIR:-/tmp}/codeward-e2e.XXXXXX")"
rm -rf "$OUT"; mkdir -p "$OUT"
mkdir -p "$RUN/user/User" "$RUN/exts" "$RUN/ws" "$RUN/data"
: >"$RUN/ws/demo.py"
STORE="$RUN/events.db"
cat >"$RUN/user/User/settings.json" <<EOF
{
  "codeward.server.pythonPath": "$PYTHON",
  "codeward.server.modelPath": "$MODEL",
  "codeward.server.env": {"XDG_DATA_HOME": "$RUN/data", "HF_HUB_OFFLINE": "1"},
  "codeward.server.settings": {"events": {"store": {"url": "sqlite:///$STORE"}}},
  "codeward.logLevel": "debug",
  "codeward.debounceMs": 50,
  "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "editor.autoClosingBrackets": "never",
  "editor.inlineSuggest.enabled": true,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "chat.disableAIFeatures": true
}
EOF

say "installing codeward.vsix into code-server (offline)"
"${CODE_SERVER[@]}" --user-data-dir "$RUN/user" --extensions-dir "$RUN/exts" \
  --install-extension "$EXT/codeward.vsix" >"$OUT/install.log" 2>&1 \
  || { cat "$OUT/install.log" >&2; exit 1; }

PORT="${E2E_PORT:-$(( 20000 + RANDOM % 20000 ))}"
say "starting code-server on 127.0.0.1:$PORT"
"${CODE_SERVER[@]}" --auth none --bind-addr "127.0.0.1:$PORT" --disable-telemetry \
  --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --user-data-dir "$RUN/user" --extensions-dir "$RUN/exts" "$RUN/ws" >"$OUT/code-server.log" 2>&1 &
CS_PID=$!
cleanup() {
  kill "$CS_PID" 2>/dev/null || true
  wait "$CS_PID" 2>/dev/null || true
  # The extension host's log (with the Codeward output channel) is worth keeping.
  find "$RUN/user/logs" -name '*Codeward*' -exec cp {} "$OUT/" \; 2>/dev/null || true
  [ -n "${E2E_KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$OUT/code-server.log" >&2; exit 1; }
  sleep 0.5
done

say "driving chromium"
E2E_URL="http://127.0.0.1:$PORT" E2E_FOLDER="$RUN/ws" E2E_OUT="$OUT" E2E_STORE="$STORE" \
E2E_PYTHON="$PYTHON" E2E_PLAYWRIGHT="$TOOLS/pw" E2E_SETTINGS="$RUN/user/User/settings.json" \
  "$NODE24" "$HERE/e2e.mjs"
say "passed in $(($(date +%s) - START)) s; screenshots in $OUT"
