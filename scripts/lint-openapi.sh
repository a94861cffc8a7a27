#!/usr/bin/env bash
# Lints the mobile API spec: kin-openapi validation (OpenAPI 3.1) plus the
# project's rules (operationId, summary, security, shared Error schema,
# examples that match their schemas). CI runs it; so does `go test ./server/apitest`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/openapilint mobile-api-docs/openapi.yaml
