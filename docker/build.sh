#!/usr/bin/env bash
# make image: build the function image from docker/Dockerfile.
#   IMAGE      the tag to build (default portico-functions:dev)
#   BASE_IMAGE the base; by default python:3.11-slim, and when no registry serves it, the
#              stand-in from `make base-image` (built first if it is missing), said so.
# The classic builder (DOCKER_BUILDKIT=0): BuildKit would fetch its frontend from a registry.
# --network host: pip reaches PyPI from the build without a bridge on the host.
set -euo pipefail
here="$(dirname "$0")"
# shellcheck source=docker/lib.sh
source "$here/lib.sh"

IMAGE="${IMAGE:-portico-functions:dev}"

require_engine image

choose_base() {
  if [[ -n "${BASE_IMAGE:-}" ]]; then
    has_image "$BASE_IMAGE" || docker pull "$BASE_IMAGE" >&2 ||
      die "the base image $BASE_IMAGE (BASE_IMAGE) is neither local nor pullable"
    echo "$BASE_IMAGE"
  elif has_image "$DEFAULT_BASE" || docker pull --quiet "$DEFAULT_BASE" >/dev/null 2>&1; then
    echo "$DEFAULT_BASE"
  else
    step "$DEFAULT_BASE cannot be had (not local, and no registry served it); using the stand-in base $STANDIN_BASE" >&2
    has_image "$STANDIN_BASE" || bash "$here/base-image.sh" "$STANDIN_BASE" >&2
    echo "$STANDIN_BASE"
  fi
}

base="$(choose_base)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
step "building $IMAGE from docker/Dockerfile on $base (revision ${revision:0:12})"
started=$SECONDS
DOCKER_BUILDKIT=0 docker build --network host -f "$here/Dockerfile" -t "$IMAGE" \
  --build-arg BASE_IMAGE="$base" --build-arg REVISION="$revision" .
step "$IMAGE: $(image_size "$IMAGE") on $base, built in $((SECONDS - started)) s"
