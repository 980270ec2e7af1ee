"""Local development/test stack: Kafka (KRaft), a MongoDB-protocol server and an SMTP sink.

Run ``python -m tools.devstack --help``. Tooling is cached under ``.cache/``; data, logs and
pid files live under ``var/`` (both git-ignored). Integration tests use
:mod:`tools.devstack.testing`.
"""
