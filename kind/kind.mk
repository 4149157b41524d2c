# The function image, the kind cluster and the e2e tests; included by the top-level Makefile.
#   make kind-up images kind-load deploy e2e     # then: make kind-down
# Every target checks its tools first (kind/require.sh) and says what is missing.
# Only e2e needs the project venv. See kind/README.md.

KIND_CLUSTER ?= portico
KUBE_CONTEXT ?= kind-$(KIND_CLUSTER)
E2E_BASE_URL ?= http://localhost:32080
KIND_ENV     := KIND_CLUSTER=$(KIND_CLUSTER) KUBE_CONTEXT=$(KUBE_CONTEXT)

.PHONY: images kind-up kind-load deploy e2e kind-down

images: image ## The function image for kind: the same as `make image`

kind-up: ## Create the kind cluster with pinned Knative Serving, Kourier and KEDA
	@$(KIND_ENV) bash kind/up.sh

kind-load: ## Load the function image (IMAGE) into the kind cluster
	@$(KIND_ENV) IMAGE=$(IMAGE) bash kind/load.sh

deploy: ## helm upgrade --install the chart into the kind cluster (kind/values.yaml, image IMAGE)
	@$(KIND_ENV) IMAGE=$(IMAGE) bash kind/deploy.sh

e2e: $(STAMP) ## helm test, the conformance suite via Kong, and the scale-to-zero e2e tests
	@bash kind/require.sh e2e kubectl helm
	helm test portico -n portico --kube-context $(KUBE_CONTEXT) --logs
	PORTICO_CONFORMANCE_BASE_URL=$(E2E_BASE_URL) $(BIN)/pytest tests/conformance
	PORTICO_E2E_BASE_URL=$(E2E_BASE_URL) PORTICO_E2E_KUBE_CONTEXT=$(KUBE_CONTEXT) \
		$(BIN)/pytest tests/e2e -rs

kind-down: ## Delete the kind cluster
	@$(KIND_ENV) bash kind/down.sh
