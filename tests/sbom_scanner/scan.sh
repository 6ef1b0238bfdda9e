#!/bin/sh
# A minimal BuildKit SBOM generator (docs/attestations/sbom-protocol.md):
# writes one SPDX JSON document per scanned root, listing its regular files,
# as an in-toto statement (BuildKit reads the destination as an attestation
# bundle and fills in the subjects).
# The real one (docker/buildkit-syft-scanner) cannot be pulled offline; this
# one is enough to see the attestation flow end to end.
set -eu
src=${BUILDKIT_SCAN_SOURCE:?BUILDKIT_SCAN_SOURCE is not set}
out=${BUILDKIT_SCAN_DESTINATION:?BUILDKIT_SCAN_DESTINATION is not set}
name=$(basename "$src")
{
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":'
  printf '{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT",'
  printf '"name":"%s","documentNamespace":"https://crossbuild.invalid/sbom/%s",' "$name" "$name"
  printf '"creationInfo":{"created":"1970-01-01T00:00:00Z","creators":["Tool: crossbuild-test-scanner"]},'
  printf '"packages":[],"files":['
  sep=''
  i=0
  (cd "$src" && find . -type f | sort) | while read -r f; do
    i=$((i + 1))
    printf '%s{"fileName":"%s","SPDXID":"SPDXRef-File-%d"}' "$sep" "$f" "$i"
    sep=','
  done
  printf ']}}\n'
} > "$out/$name.spdx.json"
