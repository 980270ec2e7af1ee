"""Offline checks of the Kubernetes deployment (deploy/k8s): ``make k8s-check``."""
