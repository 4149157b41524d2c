# shellcheck shell=bash
# shellcheck disable=SC2034  # these variables are read by kind/up.sh, which sources this file
# The pinned versions of everything `make kind-up` installs, in one place. Each can be
# overridden from the environment (e.g. KEDA_VERSION=2.21.1 make kind-up); the defaults are
# the versions this environment was written for. Where each comes from: kind/README.md.

# kind v0.33.0 release notes list this node image (Kubernetes 1.35.8) with its digest; a node
# image is only supported with the kind release that built it, hence the digest.
KIND_VERSION_WRITTEN_FOR="${KIND_VERSION_WRITTEN_FOR:-v0.33.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0}"

# Knative Serving and its Kourier networking layer are released together, same version.
KNATIVE_SERVING_VERSION="${KNATIVE_SERVING_VERSION:-1.23.0}"
KNATIVE_KOURIER_VERSION="${KNATIVE_KOURIER_VERSION:-1.23.0}"

# KEDA 2.21 is tested against Kubernetes 1.34 - 1.36.
KEDA_VERSION="${KEDA_VERSION:-2.21.0}"

KNATIVE_SERVING_CRDS_URL="https://github.com/knative/serving/releases/download/knative-v${KNATIVE_SERVING_VERSION}/serving-crds.yaml"
KNATIVE_SERVING_CORE_URL="https://github.com/knative/serving/releases/download/knative-v${KNATIVE_SERVING_VERSION}/serving-core.yaml"
KOURIER_URL="https://github.com/knative-extensions/net-kourier/releases/download/knative-v${KNATIVE_KOURIER_VERSION}/kourier.yaml"
KEDA_URL="https://github.com/kedacore/keda/releases/download/v${KEDA_VERSION}/keda-${KEDA_VERSION}.yaml"

# Knative autoscaler settings for e2e: an idle function goes to zero within ~20 s instead of
# ~90 s. Keys and limits from knative/serving pkg/autoscaler/config/config.go: stable-window
# must be in [6s, 1h] with whole seconds, scale-to-zero-grace-period must be positive.
KNATIVE_STABLE_WINDOW="${KNATIVE_STABLE_WINDOW:-10s}"
KNATIVE_SCALE_TO_ZERO_GRACE_PERIOD="${KNATIVE_SCALE_TO_ZERO_GRACE_PERIOD:-6s}"
