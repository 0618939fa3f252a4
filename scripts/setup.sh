#!/usr/bin/env bash
# Everything a fresh Debian 12 / Ubuntu 24.04+ machine with Node 20+ needs before `pnpm demo` or
# `pnpm test`: a Vulkan driver for Dawn (your GPU's own, or Mesa's lavapipe when there is no usable
# one), pnpm at the version package.json pins, and the locked dependencies. `--browser` also installs
# Debian's Chromium for the headless-browser test. Idempotent; run as root (or with sudo for apt).
#
#   bash scripts/setup.sh            # then: pnpm demo
#   bash scripts/setup.sh --browser  # then: pnpm test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

browser=false
for arg in "$@"; do
  case $arg in
    --browser) browser=true ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { echo "setup: $*"; }
sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error("setup: Node 20 or newer is needed"); process.exit(1); }'

# Lavapipe is the fallback adapter; with a GPU's own Vulkan driver installed, Dawn prefers the GPU.
if command -v apt-get >/dev/null; then
  sudo_if_needed bash scripts/install-vulkan.sh
elif ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  say "not Debian/Ubuntu; using the Vulkan drivers present: $(ls /usr/share/vulkan/icd.d/ | tr '\n' ' ')"
else
  say "no Vulkan driver found and no apt-get: install your GPU's Vulkan driver or Mesa >= 24 (lavapipe)" >&2
  exit 1
fi

if $browser; then
  if [[ -x /usr/lib/chromium/chromium || -x /usr/bin/chromium ]]; then
    say "chromium is present"
  else
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq chromium >/dev/null
    say "installed chromium"
  fi
fi

want=$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "")')
if [[ $(pnpm --version 2>/dev/null || true) != "$want" ]]; then
  # corepack cannot fetch pnpm in some sandboxes; npm can.
  npm install -g --no-fund --no-audit "pnpm@$want" >/dev/null
fi
say "pnpm $(pnpm --version)"
pnpm install --frozen-lockfile
