#!/usr/bin/env bash
# The module graph's rule (docs/architecture.md): the server, the workers, the reporter and the
# lower modules never depend on each other sideways or upwards. Reads `swift package describe`
# and fails naming each forbidden edge.
set -euo pipefail
cd "$(dirname "$0")/.."
# target: modules it must not depend on
forbidden=(
  "Worker:Coordinator Report AdaNegCLI"
  "Report:Coordinator Worker AdaNegCLI"
  "NegMining:Coordinator Worker Report AdaNegCLI"
  "Coordinator:Worker Report CLIP AdaNegCLI"
  "JobPlan:Coordinator JobStore Worker Report AdaNegCLI"
  "JobStore:Coordinator Worker Report CLIP AdaNegCLI"
)
describe=$(swift package describe 2>/dev/null)
deps_of() {
  # The "Target dependencies:" list of target $1.
  awk -v name="$1" '
    /^    Name: / { current = $2; listing = 0 }
    current == name && /^    Target dependencies:/ { listing = 1; next }
    listing && /^        [A-Za-z]/ { print $1; next }
    listing && !/^        / { listing = 0 }
  ' <<<"$describe"
}
status=0
for rule in "${forbidden[@]}"; do
  target=${rule%%:*}
  deps=$(deps_of "$target")
  [ -n "$deps" ] || { echo "check-layering: no dependencies found for $target (did swift package describe change?)"; status=1; continue; }
  for bad in ${rule#*:}; do
    if grep -qx "$bad" <<<"$deps"; then echo "check-layering: $target depends on $bad"; status=1; fi
  done
done
# The CLI's reader commands read through JobStore/Report, never through the server.
for f in Sources/AdaNegCLI/Commands/ReportCommand.swift Sources/AdaNegCLI/Commands/StatusCommand.swift; do
  if grep -q '^import Coordinator$' "$f"; then echo "check-layering: $f imports Coordinator"; status=1; fi
done
[ $status -eq 0 ] && echo "check-layering: module graph as documented"
exit $status
