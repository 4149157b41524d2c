# shellcheck shell=bash
# Helpers shared by the docker/ scripts. Source it; it does nothing on its own.

# shellcheck disable=SC2034  # read by the scripts that source this file
DEFAULT_BASE="python:3.11-slim"
# shellcheck disable=SC2034
STANDIN_BASE="portico-base:bookworm-python3.11"

step() {
  echo "==> $*"
}

# die MESSAGE [CODE]: exit 3 means "no base image can be had here", which the image tier
# reports as a skip; anything else is a failure.
die() {
  echo "error: $1" >&2
  exit "${2:-1}"
}

require_engine() {
  local target="$1" output
  command -v docker >/dev/null 2>&1 || die "$target needs the docker CLI and a Docker engine"
  if ! output="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
    die "$target needs a running Docker engine, and 'docker info' failed: $(tail -n 1 <<<"$output")"
  fi
}

has_image() {
  docker image inspect "$1" >/dev/null 2>&1
}

# image_size IMAGE: its uncompressed size, in MB.
image_size() {
  docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB\n", $1 / 1000000}'
}
