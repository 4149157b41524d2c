#!/usr/bin/env bash
# make deploy: install (or upgrade) the Portico chart into the kind cluster with kind/values.yaml.
set -euo pipefail
here="$(dirname "$0")"
# shellcheck source=kind/lib.sh
source "$here/lib.sh"

CHART="${CHART:-charts/portico}"
IMAGE="${IMAGE:-portico-functions:dev}"

# IMAGE as the chart's image.repository and image.tag (a registry's host:port stays in the
# repository; no tag means latest, as docker says).
image_name="${IMAGE##*/}"
if [[ "$image_name" == *:* ]]; then
  repository="${IMAGE%:*}" tag="${IMAGE##*:}"
else
  repository="$IMAGE" tag=latest
fi

require_tools deploy helm kubectl
[[ -f "$CHART/Chart.yaml" ]] || die "deploy needs the chart at $CHART (no $CHART/Chart.yaml)"
require_cluster deploy

step "installing the Portico chart as release 'portico' in namespace 'portico' with $repository:$tag (waits up to 10m)"
helm upgrade --install portico "$CHART" -n portico --create-namespace --wait --timeout 10m \
  -f "$here/values.yaml" --set-string image.repository="$repository" --set-string image.tag="$tag" \
  --kube-context "$KUBE_CONTEXT"

step "Portico is deployed; Kong answers on http://localhost:32080, e.g.:"
echo "    curl -s http://localhost:32080/claims -H 'apikey: alice-dev-key'"
