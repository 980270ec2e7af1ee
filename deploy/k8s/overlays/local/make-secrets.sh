#!/usr/bin/env bash
# Development secrets for overlays/local, created straight in the cluster (never in
# git): a fresh ES256 key pair for guardian tokens and random MongoDB user passwords.
# Idempotent: an existing Secret or ConfigMap is left alone (delete it to regenerate).
# Needs kubectl (pointing at the local cluster) and openssl.
#
#   deploy/k8s/overlays/local/make-secrets.sh [NAMESPACE]     (default guardian-portal)
#
# Production creates the same objects with real values: docs/operations/install.md.
set -euo pipefail

ns="${1:-guardian-portal}"
kid=portal-1   # = IDENTITY_JWT_ACTIVE_KID in base/config/identity.env
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"

exists() { kubectl -n "$ns" get "$1" "$2" >/dev/null 2>&1; }
# {"<kid>": "<PEM with \n escapes>"}
kid_json() { printf '{"%s": "%s"}' "$1" "$(awk '{printf "%s\\n", $0}' "$2")"; }

if ! exists secret identity-secrets; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/jwt.pem" 2>/dev/null
  openssl pkey -in "$tmp/jwt.pem" -pubout -out "$tmp/jwt.pub"
  kubectl -n "$ns" create secret generic identity-secrets \
    --from-literal=IDENTITY_JWT_PRIVATE_KEYS="$(kid_json "$kid" "$tmp/jwt.pem")"
  # The matching public key for linking (replaced together with the private key).
  kubectl -n "$ns" delete configmap identity-jwt-public-keys --ignore-not-found
  kubectl -n "$ns" create configmap identity-jwt-public-keys \
    --from-literal=IDENTITY_JWT_PUBLIC_KEYS="$(kid_json "$kid" "$tmp/jwt.pub")"
fi

# The local mail catcher needs no credentials.
exists secret notifier-secrets || kubectl -n "$ns" create secret generic notifier-secrets

for user in identity linking notifier scheduler webhooks portal-backup; do
  exists secret "$user-mongodb-password" || kubectl -n "$ns" create secret generic \
    "$user-mongodb-password" --from-literal=password="$(openssl rand -hex 24)"
done
echo "secrets ready in namespace $ns"
