#!/usr/bin/env bash
# Usage: kind/require.sh TARGET TOOL...
# Fails with a message naming the tools TARGET needs that are missing (and a stopped Docker
# engine, when docker is one of them). Called first by every target in kind/kind.mk.
set -euo pipefail
# shellcheck source=kind/lib.sh
source "$(dirname "$0")/lib.sh"

(($# >= 2)) || die "usage: kind/require.sh TARGET TOOL..."
require_tools "$@"
