#!/usr/bin/env bash
# Runs every test of the workspace. Installs (idempotently) what the cross-check tests need:
#   - the official Inngest TypeScript SDK for the reference app (tests/inngest-ts-ref, pinned by its lockfile)
#   - the real OpenCode binary from npm (opencode-linux-x64, pinned)
#   - the official mermaid parser and standardwebhooks verifier (tests/node-checks, pinned by its lockfile)
# Usage: bash tests/run.sh [extra cargo test args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

OPENCODE_VERSION=1.18.33

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "tests/run.sh: node and npm are required for the Inngest and OpenCode cross-checks" >&2
  exit 1
fi

if [ ! -d tests/inngest-ts-ref/node_modules/inngest ]; then
  echo "==> installing the official Inngest TypeScript SDK (tests/inngest-ts-ref)"
  npm ci --prefix tests/inngest-ts-ref --no-audit --no-fund --loglevel=error
fi

if [ ! -d tests/node-checks/node_modules/mermaid ] || [ ! -d tests/node-checks/node_modules/standardwebhooks ]; then
  echo "==> installing mermaid and standardwebhooks (tests/node-checks)"
  npm ci --prefix tests/node-checks --no-audit --no-fund --loglevel=error
fi

opencode_bin="$root/.opencode-bin/node_modules/opencode-linux-x64/bin/opencode"
if [ ! -x "$opencode_bin" ]; then
  echo "==> installing opencode-linux-x64@$OPENCODE_VERSION"
  mkdir -p .opencode-bin
  npm install --prefix .opencode-bin --no-save --no-audit --no-fund --loglevel=error \
    "opencode-linux-x64@$OPENCODE_VERSION"
fi
export OPENCODE_BIN="$opencode_bin"

echo "==> cargo test --workspace"
cargo test --workspace "$@"
