"""A test's own broker (testing.IsolatedKafka) is configured apart from the shared one:
its own ports and data directory, nothing of 9092/9093 or var/kafka-data."""

from __future__ import annotations

from pathlib import Path

from tools.devstack import kafka
from tools.devstack.paths import KAFKA_DATA
from tools.devstack.testing import IsolatedKafka


def test_shared_broker_defaults_unchanged() -> None:
    props = kafka.server_properties()
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in props
    assert f"log.dirs={KAFKA_DATA}" in props


def test_isolated_broker_has_its_own_ports_and_data(tmp_path: Path) -> None:
    broker = IsolatedKafka(tmp_path / "k")
    assert broker.port not in (9092, 9093) and broker.controller_port not in (9092, 9093)
    assert broker.port != broker.controller_port
    props = kafka.server_properties(broker.port, broker.controller_port, tmp_path / "k" / "data")
    assert f"listeners=PLAINTEXT://127.0.0.1:{broker.port}," in props
    assert f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker.port}," in props
    assert f"controller.quorum.bootstrap.servers=127.0.0.1:{broker.controller_port}" in props
    assert f"log.dirs={tmp_path / 'k' / 'data'}" in props
    assert ":9092" not in props and str(KAFKA_DATA) not in props
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
