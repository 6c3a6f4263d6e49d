#!/usr/bin/env bash
# The HL7 FHIR R4 reference instance validator, offline (see docs/conformance.md).
# Usage: tools/fhir-validator/run.sh DIR|FILE...   (FHIR resources as JSON, one per file or a JSON array)
# The engine's extension StructureDefinitions are exported and given to the validator. The tool is built with Maven
# the first time (its dependencies come from Maven Central and are cached in ~/.m2). Exit 1 when any resource has an
# error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
jar="$here/target/fhir-validator-0.1.0.jar"
if [ ! -f "$jar" ] || [ -n "$(find "$here/src" "$here/pom.xml" -newer "$jar" 2>/dev/null | head -1)" ]; then
  mvn -q -B -f "$here/pom.xml" -DskipTests package >&2
fi
defs=$(mktemp -d)
trap 'rm -rf "$defs"' EXIT
(cd "$root" && npx tsx tools/fhir-validator/export.ts --definitions "$defs" >&2)
java -Xmx2g -cp "$jar:$here/target/lib/*" engine.fhirvalidator.Validate --definitions "$defs" "$@"
