"""Numbers the runtime and the Kubernetes manifests must agree on (checked by
``make k8s-check``). No imports: the offline check reads them cheaply."""

#: How long start-up waits for each dependency (MongoDB, then Kafka) before giving up.
#: The Deployments' startupProbe must allow more than the two together.
DEPENDENCY_WAIT_SECONDS = 120.0
