# shellcheck shell=bash
# Helpers shared by the kind/ scripts. Source it; it does nothing on its own.

KIND_CLUSTER="${KIND_CLUSTER:-portico}"
KUBE_CONTEXT="${KUBE_CONTEXT:-kind-${KIND_CLUSTER}}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-300s}"

step() {
  echo "==> $*"
}

die() {
  echo "error: $*" >&2
  exit 1
}

# require_tools TARGET TOOL...: fail naming every tool TARGET needs that is not on PATH, and
# fail if docker is among them but its engine does not answer.
require_tools() {
  local target="$1"
  shift
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]} > 0)); then
    die "$target needs: $* (missing: ${missing[*]}) — install them, see kind/README.md"
  fi
  if [[ " $* " == *" docker "* ]]; then
    require_docker_engine "$target"
  fi
}

require_docker_engine() {
  local target="$1" output
  if ! output="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
    die "$target needs a running Docker engine, and 'docker info' failed: $(tail -n 1 <<<"$output") — start Docker, see kind/README.md"
  fi
}

kube() {
  kubectl --context "$KUBE_CONTEXT" "$@"
}

cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"
}

require_cluster() {
  local target="$1"
  kubectl config get-contexts "$KUBE_CONTEXT" >/dev/null 2>&1 ||
    die "$target needs the kind cluster '$KIND_CLUSTER' (no kubectl context $KUBE_CONTEXT) — run 'make kind-up' first"
  kube version --request-timeout=5s >/dev/null 2>&1 ||
    die "$target cannot reach the cluster behind kubectl context $KUBE_CONTEXT — is it running? ('make kind-up')"
}

# wait_available NAMESPACE: every Deployment in NAMESPACE reports Available.
wait_available() {
  local namespace="$1"
  step "waiting for the deployments in $namespace to be Available (up to $WAIT_TIMEOUT)"
  kube wait deployment --all -n "$namespace" --for=condition=Available --timeout="$WAIT_TIMEOUT"
}

# retry ATTEMPTS COMMAND...: for calls that race a webhook that is up but not yet serving.
retry() {
  local attempts="$1" attempt
  shift
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if "$@"; then
      return 0
    fi
    echo "    (attempt $attempt/$attempts failed; retrying in 5 s)"
    sleep 5
  done
  die "gave up after $attempts attempts: $*"
}
