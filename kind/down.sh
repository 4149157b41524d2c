#!/usr/bin/env bash
# make kind-down: delete the kind cluster and everything in it.
set -euo pipefail
# shellcheck source=kind/lib.sh
source "$(dirname "$0")/lib.sh"

require_tools kind-down docker kind
if cluster_exists; then
  step "deleting kind cluster '$KIND_CLUSTER'"
  kind delete cluster --name "$KIND_CLUSTER"
else
  step "no kind cluster '$KIND_CLUSTER'; nothing to delete"
fi
