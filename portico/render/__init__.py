"""The render path: pure functions from manifests (and the gateway's policies) to the
files a cluster runs on: Kong's declarative config (`kong`), the OpenAPI document (`openapi`),
an OpenFaaS stack (`openfaas`), the chart's generated values (`values`) and the chart's
README from values.yaml's comments (`chart_readme`).

A renderer reads no environment, clock or file it is not given, so `make render` gives the
same committed files in every shell.

May import: the top-level modules, `portico.manifest` and `portico.policies`.
"""
