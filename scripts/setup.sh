#!/bin/sh
# Everything `npm test` and `npm run demo` need on a fresh Debian machine with Node >= 20 and npm:
# npm packages, redis-server and kcat (its librdkafka mock cluster is our Kafka-protocol broker in tests and the
# demo), and a build of dist/. With `--browser` (what `npm test` passes) also Debian's chromium, which the
# dashboard's browser tests drive headless through playwright-core. Safe to run again: each step is skipped when
# already done.
set -eu
browser=no
[ "${1:-}" = "--browser" ] && browser=yes
cd "$(dirname "$0")/.."

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "funnelwatch needs Node.js >= 20 (found $(node --version))." >&2
  exit 1
fi

# npm packages: install when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
command -v kcat >/dev/null 2>&1 || missing="$missing kcat"
if [ "$browser" = yes ] && [ -z "${FW_CHROMIUM:-}" ]; then
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing$missing with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "funnelwatch needs$missing. Install them, then run this again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

echo "setup: building dist/"
npm run --silent build
