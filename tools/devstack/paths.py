"""Fixed locations and ports of the dev stack (all relative to the repository root)."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (``tools/devstack/paths.py`` -> three levels up).
ROOT: Path = Path(__file__).resolve().parents[2]
#: Tooling cache: resolved Kafka jars, the Rust Mongo binary. Safe to delete.
CACHE: Path = ROOT / ".cache"
#: Runtime state: data directories, logs, pid files, mail.
VAR: Path = ROOT / "var"
LOG_DIR: Path = VAR / "log"
RUN_DIR: Path = VAR / "run"

HOST = "127.0.0.1"

KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
KAFKA_BOOTSTRAP = f"{HOST}:{KAFKA_PORT}"
KAFKA_CACHE: Path = CACHE / "kafka"
KAFKA_LIBS: Path = KAFKA_CACHE / "libs"
KAFKA_POM: Path = Path(__file__).resolve().parent / "kafka" / "pom.xml"
KAFKA_LOG4J2: Path = Path(__file__).resolve().parent / "kafka" / "log4j2.xml"
KAFKA_CONF_DIR: Path = VAR / "kafka"
KAFKA_DATA: Path = VAR / "kafka-data"

MONGO_PORT = 27017
MONGO_URI = f"mongodb://{HOST}:{MONGO_PORT}/"
MONGO_DATA: Path = VAR / "mongo-data"
MONGO_CONF_DIR: Path = VAR / "mongo"
RUST_MONGO_ROOT: Path = CACHE / "secantus-rs"
RUST_MONGO_BIN: Path = RUST_MONGO_ROOT / "bin" / "secantusd-rs"

SMTP_PORT = 1025
SMTP_HTTP_PORT = 8025
MAIL_DIR: Path = VAR / "mail"
#: Control file read by the SMTP sink on every transaction: accept | reject | tempfail.
SMTP_MODE_FILE: Path = MAIL_DIR / ".mode"


KEYCLOAK_PORT = 8380
KEYCLOAK_URL = f"http://{HOST}:{KEYCLOAK_PORT}"
#: The local district realm (tools/devstack/keycloak/district-realm.json) and its issuer.
KEYCLOAK_REALM = "district"
KEYCLOAK_ISSUER = f"{KEYCLOAK_URL}/realms/{KEYCLOAK_REALM}"
KEYCLOAK_CACHE: Path = CACHE / "keycloak"
#: The unzipped server distribution (``bin/kc.sh``).
KEYCLOAK_DIST: Path = KEYCLOAK_CACHE / "dist"
KEYCLOAK_FILES: Path = Path(__file__).resolve().parent / "keycloak"
KEYCLOAK_POM: Path = KEYCLOAK_FILES / "pom.xml"
#: Keycloak's H2 database (dev-file), recreated when a realm file changes.
KEYCLOAK_DATA: Path = VAR / "keycloak-data"


def env_flag(name: str) -> bool:
    """Return True when environment variable ``name`` is set to a truthy value (1/true/yes/on)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
