"""Only names made by test and benchmark runs are pruned."""

from __future__ import annotations

import pytest

from tools.devstack.prune import is_run_data


@pytest.mark.parametrize(
    "name",
    ["t10bf308d.LinkApproved", "t10bf308d.LinkApproved.DLQ", "f1a2b3c4d.T", "b0123abc_identity"],
)
def test_run_prefixed_names_are_pruned(name: str) -> None:
    assert is_run_data(name)


@pytest.mark.parametrize(
    "name",
    [
        "LinkApproved",
        "LinkApproved.DLQ",
        "identity",
        "notifier",
        "devstack-healthcheck",
        "__consumer_offsets",
        "admin",
        "district.LinkApproved",  # an operator's own prefix
        "tenant_linking",
    ],
)
def test_operator_data_is_kept(name: str) -> None:
    assert not is_run_data(name)
