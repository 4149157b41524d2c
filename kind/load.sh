#!/usr/bin/env bash
# make kind-load: copy the locally built function image into the kind node.
set -euo pipefail
# shellcheck source=kind/lib.sh
source "$(dirname "$0")/lib.sh"

IMAGE="${IMAGE:-portico-functions:dev}"

# Docker 29's containerd image store can make `kind load docker-image` fail with "content
# digest ... not found" (kubernetes-sigs/kind#3795); the workaround documented there is to save
# one platform's image to an archive and load that.
load_single_platform_archive() {
  local platform archive
  platform="$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}')"
  archive="$(mktemp "${TMPDIR:-/tmp}/portico-image.XXXXXX.tar")"
  trap 'rm -f "$archive"' RETURN
  step "retrying with a $platform image archive (kind#3795 workaround)"
  docker image save --platform "$platform" -o "$archive" "$IMAGE"
  kind load image-archive "$archive" --name "$KIND_CLUSTER"
}

require_tools kind-load docker kind
cluster_exists || die "kind-load needs the kind cluster '$KIND_CLUSTER' — run 'make kind-up' first"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "kind-load needs the image $IMAGE — run 'make images' first"

step "loading $IMAGE into kind cluster '$KIND_CLUSTER'"
kind load docker-image "$IMAGE" --name "$KIND_CLUSTER" || load_single_platform_archive
