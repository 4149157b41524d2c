# shellcheck shell=bash
# CI only: Debian's Chromium for the browser tier (Playwright drives it; its own browser download
# is not reachable). Sourced by .ci/run; a user's `make test` never installs system packages, it
# skips the tier with one line instead.
#   ensure_chromium   nothing if /usr/bin/chromium exists; as root with apt, install it

ensure_chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    echo "==> $(/usr/bin/chromium --version 2>/dev/null || echo chromium) is installed; the browser tier uses it"
    return
  fi
  if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    echo "==> no /usr/bin/chromium, and not root with apt-get to install it: the browser tier will be skipped"
    return
  fi
  echo "==> installing chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  echo "==> $(/usr/bin/chromium --version) installed"
}
