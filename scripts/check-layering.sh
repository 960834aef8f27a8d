#!/usr/bin/env bash
# The module graph's rule (docs/architecture.md): the server, the workers, the reporter and the
# lower modules never depend on each other sideways or upwards, through ANY path. Reads
# `swift package describe`, closes each target's dependencies transitively (targets and the
# products they name), and fails naming each forbidden module a target reaches, with one path
# that reaches it.
set -euo pipefail
cd "$(dirname "$0")/.."
# target: modules (targets or products) it must not reach
forbidden=(
  # The protocol: plain types, no transport, no planning, no numerics.
  "JobProtocol:JobPlan JobClient JobStore Coordinator Worker Report AdaNegCLI CLIP Tensor COpenBLAS COneDNN AsyncHTTPClient NIOPosix Hummingbird"
  # Planning reads model facts through a protocol: no CLIP, no BLAS, no HTTP.
  "JobPlan:JobClient JobStore Coordinator Worker Report AdaNegCLI CLIP Tensor COpenBLAS COneDNN AsyncHTTPClient Hummingbird"
  "JobClient:JobPlan JobStore Coordinator Worker Report AdaNegCLI CLIP Tensor COpenBLAS COneDNN Hummingbird"
  "JobStore:JobClient Coordinator Worker Report AdaNegCLI CLIP Tensor COpenBLAS COneDNN AsyncHTTPClient Hummingbird"
  # The coordinator links no model code, no BLAS and no HTTP client.
  "Coordinator:Worker Report AdaNegCLI JobClient CLIP CUDABackend Tensor AdaNeg COpenBLAS COneDNN AsyncHTTPClient"
  "Worker:Coordinator JobStore Report AdaNegCLI Hummingbird"
  "Report:Coordinator Worker AdaNegCLI CLIP Hummingbird"
  "NegMining:Coordinator Worker Report JobStore JobPlan JobClient AdaNegCLI"
  "JobSpec:JobProtocol JobPlan JobClient JobStore Coordinator Worker Report CLIP Tensor AdaNeg COpenBLAS COneDNN"
  "AdaNegCore:AdaNeg Tensor COpenBLAS COneDNN JobSpec"
  "TensorCore:Tensor COpenBLAS COneDNN"
  "AdaNeg:JobSpec JobProtocol JobPlan JobStore CLIP"
  "CLIP:AdaNeg JobSpec JobProtocol JobPlan JobStore Coordinator Worker"
  "NPY:Tensor TensorCore AdaNeg AdaNegCore"
  "Platform:NPY Tensor TensorCore AdaNeg AdaNegCore"
)
describe=$(swift package describe 2>/dev/null)
# "target dependency" lines: `T -> D` for each target dependency and product dependency.
edges=$(awk '
  /^    Name: / { current = $2; listing = 0 }
  /^    Target dependencies:/ || /^    Product dependencies:/ { listing = 1; next }
  listing && /^        [A-Za-z]/ { print current, $1; next }
  listing && !/^        / { listing = 0 }
' <<<"$describe")
[ -n "$edges" ] || { echo "check-layering: no dependencies found (did swift package describe change?)"; exit 1; }

# Prints every module $1 reaches, each as "module path" (path: a -> b -> c), breadth first.
reach() {
  awk -v start="$1" '
    { deps[$1] = deps[$1] " " $2 }
    END {
      queue[0] = start; path[start] = start; head = 0; tail = 1
      while (head < tail) {
        node = queue[head++]
        n = split(deps[node], list, " ")
        for (i = 1; i <= n; i++) {
          d = list[i]
          if (d == "" || (d in path)) continue
          path[d] = path[node] " -> " d
          queue[tail++] = d
          print d, path[d]
        }
      }
    }
  ' <<<"$edges"
}

status=0
for rule in "${forbidden[@]}"; do
  target=${rule%%:*}
  grep -q "^    Name: $target$" <<<"$describe" || { echo "check-layering: no target $target (did swift package describe change?)"; status=1; continue; }
  reached=$(reach "$target")
  for bad in ${rule#*:}; do
    hit=$(awk -v m="$bad" '$1 == m { $1 = ""; print substr($0, 2); exit }' <<<"$reached")
    if [ -n "$hit" ]; then echo "check-layering: $target reaches $bad ($hit)"; status=1; fi
  done
done
# The CLI's reader commands read through JobStore/Report, never through the server.
for f in Sources/AdaNegCLI/Commands/ReportCommand.swift Sources/AdaNegCLI/Commands/StatusCommand.swift; do
  if grep -q '^import Coordinator$' "$f"; then echo "check-layering: $f imports Coordinator"; status=1; fi
done
[ $status -eq 0 ] && echo "check-layering: module graph as documented (transitively)"
exit $status
