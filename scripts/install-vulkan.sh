#!/usr/bin/env bash
# Installs a Vulkan driver that Dawn (the npm `webgpu` package) accepts on a machine without a GPU:
# Mesa's lavapipe, version 24 or newer. Debian 12's own Mesa (22.3) is too old (Dawn rejects it and
# requestAdapter() returns null), so on Debian 12 it comes from bookworm-backports.
#
#   sudo bash scripts/install-vulkan.sh
#
# Idempotent: does nothing when mesa-vulkan-drivers >= 24 is already installed.
# Supported: Debian 12 (backports), Debian 13+ and Ubuntu 24.04+ (their own mesa-vulkan-drivers).
set -euo pipefail

MIN_MESA=24
say() { echo "install-vulkan: $*"; }
die() { echo "install-vulkan: error: $*" >&2; exit 1; }

installed_version() { dpkg-query -W -f='${Status} ${Version}\n' mesa-vulkan-drivers 2>/dev/null | awk '$3 == "installed" { print $4 }'; }

report() {
  local icd
  icd=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n 1 || true)
  say "mesa-vulkan-drivers $(installed_version) installed; lavapipe ICD: ${icd:-not found}"
  [[ -n $icd ]] || die "the lavapipe ICD file (/usr/share/vulkan/icd.d/lvp_icd*.json) is missing"
}

[[ -r /etc/os-release ]] || die "no /etc/os-release: this script supports Debian 12+ and Ubuntu 24.04+ only. Install Mesa >= $MIN_MESA's lavapipe (or your GPU's Vulkan driver) by hand."
# shellcheck disable=SC1091
. /etc/os-release
ID=${ID:-unknown}
VERSION_ID=${VERSION_ID:-0}
say "system: ${PRETTY_NAME:-$ID $VERSION_ID}"

current=$(installed_version || true)
if [[ -n $current ]] && dpkg --compare-versions "$current" ge "$MIN_MESA"; then
  say "already done: mesa-vulkan-drivers $current (>= $MIN_MESA) is installed; nothing to do"
  report
  exit 0
fi
[[ -n $current ]] && say "mesa-vulkan-drivers $current is installed but too old (Dawn needs Mesa >= $MIN_MESA)"

[[ $(id -u) -eq 0 ]] || die "must run as root to install packages: sudo bash $0"
export DEBIAN_FRONTEND=noninteractive

case "$ID" in
  debian)
    if [[ $VERSION_ID == 12 ]]; then
      if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "bookworm-backports is already in the apt sources"
      else
        echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
        say "added bookworm-backports: /etc/apt/sources.list.d/bookworm-backports.list"
      fi
      say "apt-get update"
      apt-get update -qq
      say "installing mesa-vulkan-drivers from bookworm-backports"
      apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
    elif dpkg --compare-versions "$VERSION_ID" ge 13; then
      say "apt-get update"
      apt-get update -qq
      say "installing Debian $VERSION_ID's mesa-vulkan-drivers"
      apt-get install -y -qq mesa-vulkan-drivers
    else
      die "Debian $VERSION_ID is not supported (its Mesa is older than $MIN_MESA): use Debian 12 or newer."
    fi
    ;;
  ubuntu)
    if dpkg --compare-versions "$VERSION_ID" ge 24.04; then
      say "apt-get update"
      apt-get update -qq
      say "installing Ubuntu $VERSION_ID's mesa-vulkan-drivers"
      apt-get install -y -qq mesa-vulkan-drivers
    else
      die "Ubuntu $VERSION_ID is not supported (its Mesa is older than $MIN_MESA): use Ubuntu 24.04 or newer, or install a newer Mesa (e.g. the kisak-mesa PPA) by hand."
    fi
    ;;
  *)
    die "'$ID $VERSION_ID' is not supported: this script handles Debian 12+ and Ubuntu 24.04+. Install your GPU's Vulkan driver, or Mesa >= $MIN_MESA's lavapipe (package mesa-vulkan-drivers or similar), by hand."
    ;;
esac

current=$(installed_version || true)
if [[ -z $current ]] || ! dpkg --compare-versions "$current" ge "$MIN_MESA"; then
  die "after installing, mesa-vulkan-drivers is '${current:-missing}', not >= $MIN_MESA"
fi
report
