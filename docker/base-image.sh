#!/usr/bin/env bash
# make base-image: a stand-in for python:3.11-slim made from Debian's own packages, for a machine
# whose Docker engine can reach no container registry. debootstrap (minbase) installs Debian
# bookworm with python3 (3.11) and python3-venv into a folder; `docker import` turns the folder
# into an image. Needs root (debootstrap chroots) and debootstrap.
#   docker/base-image.sh [TAG]     # default portico-base:bookworm-python3.11
set -euo pipefail
# shellcheck source=docker/lib.sh
source "$(dirname "$0")/lib.sh"

TAG="${1:-$STANDIN_BASE}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

require_engine base-image
command -v debootstrap >/dev/null 2>&1 ||
  die "base-image needs debootstrap (Debian/Ubuntu: apt-get install debootstrap)" 3
((EUID == 0)) || die "base-image needs root: debootstrap installs into a chroot (run it with sudo)" 3

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/portico-base.XXXXXX")"
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT

step "debootstrap $SUITE (minbase + python3, python3-venv) from $MIRROR — about a minute"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 ||
  die "debootstrap failed; its last lines:$(printf '\n'; tail -n 20 "$rootfs.log")"
rm -f "$rootfs.log"

step "trimming what an image never reads (docs, man pages, locales, apt's lists and caches)"
rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
# python:*-slim names its interpreter `python` too.
ln -sf python3 "$rootfs/usr/bin/python"
# A stand-in made on this machine trusts what this machine trusts: the local CAs (an egress
# proxy's, a company's) that `pip install` during `make image` may meet.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  step "adding this machine's local CAs from /usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

step "importing the folder as $TAG"
# A sorted archive with fixed times and owners: the same packages give the same layer.
tar --sort=name --mtime='@0' --numeric-owner --one-file-system -C "$rootfs" -c . |
  docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "portico stand-in base: debootstrap --variant=minbase $SUITE + python3" \
    - "$TAG" >/dev/null
step "$TAG: $(image_size "$TAG")"
