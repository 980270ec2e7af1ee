"""Tests of make k8s-check."""
