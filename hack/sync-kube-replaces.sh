#!/usr/bin/env bash
# k8s.io/kubernetes points its staging modules at ./staging/src with replace lines, which
# only work inside its own repository. A module that builds its commands has to pin each
# staging module to its published tag instead (v1.X.Y -> v0.X.Y). This derives those lines
# from k8s.io/kubernetes's own go.mod, so a version bump is: edit KUBE_VERSION, run this.
set -euo pipefail
cd "$(dirname "$0")/kubernetes"
KUBE_VERSION=${1:-$(sed -n 's/^\tk8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod)}
staging_version="v0.${KUBE_VERSION#v1.}"
upstream_mod=$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
for mod in $(sed -n 's/^\t\(k8s.io\/[a-z0-9-]*\) => \.\/staging\/.*/\1/p' "$upstream_mod"); do
  go mod edit -replace="${mod}=${mod}@${staging_version}"
done
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go mod edit -tool="k8s.io/kubernetes/cmd/${cmd}"
done
go mod tidy
