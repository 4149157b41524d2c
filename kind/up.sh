#!/usr/bin/env bash
# make kind-up: create the kind cluster (or reuse it) and install the pinned Knative Serving,
# Kourier and KEDA the Portico chart builds on. Safe to run again.
set -euo pipefail
here="$(dirname "$0")"
# shellcheck source=kind/lib.sh
source "$here/lib.sh"
# shellcheck source=kind/versions.sh
source "$here/versions.sh"

require_tools kind-up docker kind kubectl

warn_on_kind_version() {
  local version
  version="$(kind version 2>/dev/null | awk '{print $2}')"
  if [[ "$version" != "${KIND_VERSION_WRITTEN_FOR%.*}".* ]]; then
    echo "warning: kind $version found; this environment was written for kind $KIND_VERSION_WRITTEN_FOR" \
      "and its node image $KIND_NODE_IMAGE (set KIND_NODE_IMAGE to one listed in your kind release's notes)" >&2
  fi
}

create_cluster() {
  if cluster_exists; then
    step "kind cluster '$KIND_CLUSTER' exists; reusing it"
    return
  fi
  step "creating kind cluster '$KIND_CLUSTER' ($KIND_NODE_IMAGE)"
  kind create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" \
    --config "$here/cluster.yaml" --wait 120s
}

install_knative_serving() {
  step "installing Knative Serving v$KNATIVE_SERVING_VERSION (CRDs)"
  kube apply -f "$KNATIVE_SERVING_CRDS_URL"
  kube wait crd -l knative.dev/crd-install=true --for=condition=Established --timeout=120s
  step "installing Knative Serving v$KNATIVE_SERVING_VERSION (core)"
  kube apply -f "$KNATIVE_SERVING_CORE_URL"
  wait_available knative-serving
}

install_kourier() {
  step "installing Kourier (net-kourier) v$KNATIVE_KOURIER_VERSION"
  kube apply -f "$KOURIER_URL"
  wait_available kourier-system
  wait_available knative-serving
}

# Knative validates these ConfigMaps through its webhook, hence the retries.
patch_knative_config() {
  local name="$1" data="$2"
  retry 12 kube patch configmap "$name" -n knative-serving --type merge -p "{\"data\":$data}"
}

configure_knative() {
  step "configuring Knative: Kourier as the ingress"
  patch_knative_config config-network '{"ingress-class":"kourier.ingress.networking.knative.dev"}'
  step "configuring Knative: stable-window $KNATIVE_STABLE_WINDOW, scale-to-zero-grace-period $KNATIVE_SCALE_TO_ZERO_GRACE_PERIOD"
  patch_knative_config config-autoscaler \
    "{\"stable-window\":\"$KNATIVE_STABLE_WINDOW\",\"scale-to-zero-grace-period\":\"$KNATIVE_SCALE_TO_ZERO_GRACE_PERIOD\",\"enable-scale-to-zero\":\"true\"}"
  # portico-functions:dev exists only inside the node (kind load), not in a registry, so
  # Knative must not resolve its tag to a digest. Unqualified names live on index.docker.io.
  step "configuring Knative: no tag-to-digest resolution for images loaded with 'kind load'"
  patch_knative_config config-deployment \
    '{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local,index.docker.io"}'
}

install_keda() {
  step "installing KEDA v$KEDA_VERSION"
  # KEDA's CRDs are too large for client-side apply's last-applied annotation.
  kube apply --server-side -f "$KEDA_URL"
  wait_available keda
}

warn_on_kind_version
create_cluster
install_knative_serving
install_kourier
configure_knative
install_keda
step "kind cluster '$KIND_CLUSTER' is ready (context $KUBE_CONTEXT); next: make images kind-load deploy"
