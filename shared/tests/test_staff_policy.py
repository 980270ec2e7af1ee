"""The staff part of the district policy: claims -> schools and the district-admin role."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.runtime.policy import (
    DEFAULT_POLICY,
    NIST_POLICY,
    PolicyError,
    StaffPolicy,
    claim_values,
    load_policy,
)

ENTRA = StaffPolicy.model_validate(
    {
        "school_claims": [
            {
                "claim": "groups",
                "values": {
                    "6f1c3c2e-0000-4000-8000-000000000123": "0123",
                    "9a7d1b44-0000-4000-8000-000000000456": "0456",
                },
            }
        ],
        "district_admin_claims": [{"claim": "roles", "values": ["District.Admin"]}],
        "staff_id_claim": "oid",
    }
)
GOOGLE = StaffPolicy.model_validate(
    {
        "school_claims": [
            {"claim": "groups", "pattern": r"school-(?P<school>\d{4})-office@district\.example"}
        ],
        "district_admin_claims": [
            {"claim": "groups", "values": ["district-admins@district.example"]}
        ],
    }
)


def test_the_bundled_policies_read_the_local_keycloak_realm() -> None:
    for path in (DEFAULT_POLICY, NIST_POLICY):
        staff = load_policy(path).staff
        access = staff.access(
            {"sub": "u-1", "schools": ["0123"], "realm_access": {"roles": ["offline_access"]}}
        )
        assert access is not None
        assert access.schools == {"0123"} and not access.district_admin
        admin = staff.access({"sub": "u-2", "realm_access": {"roles": ["district-admin"]}})
        assert admin is not None and admin.district_admin and admin.schools == frozenset()


def test_a_custom_schools_claim_keeps_its_values_and_accepts_one_string() -> None:
    staff = StaffPolicy()
    access = staff.access({"sub": "u", "schools": [" 0123 ", "0456", 7, ""]})
    assert access is not None and access.schools == {"0123", "0456"}
    single = staff.access({"sub": "u", "schools": "0123"})
    assert single is not None and single.schools == {"0123"}


def test_entra_group_ids_map_to_schools_and_an_app_role_makes_an_admin() -> None:
    access = ENTRA.access(
        {
            "oid": "entra-object-id",
            "sub": "pairwise-sub",
            "groups": ["6f1c3c2e-0000-4000-8000-000000000123", "unrelated-group"],
            "roles": ["Staff"],
        }
    )
    assert access is not None
    assert access.staff_id == "entra-object-id"
    assert access.schools == {"0123"} and not access.district_admin
    admin = ENTRA.access({"oid": "x", "roles": ["District.Admin"]})
    assert admin is not None and admin.district_admin


def test_google_group_addresses_map_through_the_pattern() -> None:
    access = GOOGLE.access(
        {
            "sub": "1234567890",
            "groups": [
                "school-0456-office@district.example",
                "school-0456-office@district.example.evil",
                "teachers@district.example",
            ],
        }
    )
    assert access is not None and access.schools == {"0456"} and not access.district_admin


def test_no_school_says_which_claim_was_read() -> None:
    access = StaffPolicy().access({"sub": "u", "realm_access": {"roles": []}})
    assert access is not None and access.schools == frozenset()
    assert access.missing is not None and "'schools'" in access.missing


def test_entra_group_overage_is_named() -> None:
    access = ENTRA.access(
        {"oid": "x", "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}
    )
    assert access is not None and not access.schools
    assert access.missing is not None and "too many groups" in access.missing


def test_a_token_without_the_staff_id_claim_has_no_access() -> None:
    assert StaffPolicy().access({"schools": ["0123"]}) is None
    assert ENTRA.access({"sub": "s", "groups": []}) is None


def test_namespaced_claims_with_dots_are_read_whole_before_as_a_path() -> None:
    claims = {"https://district.example/schools": ["0123"], "a": {"b": "x"}}
    assert claim_values(claims, "https://district.example/schools") == ["0123"]
    assert claim_values(claims, "a.b") == ["x"]
    assert claim_values(claims, "a.c") is None
    assert claim_values({"a": {"b": 3}}, "a.b") == []


@pytest.mark.parametrize(
    ("staff", "message"),
    [
        ({"school_claims": []}, "at least 1"),
        ({"school_claims": [{"claim": "groups", "pattern": "school-(\\d+)"}]}, "(?P<school>"),
        ({"school_claims": [{"claim": "groups", "pattern": "("}]}, "not a regular expression"),
        (
            {"school_claims": [{"claim": "g", "pattern": "(?P<school>x)", "values": {"a": "1"}}]},
            "either values or pattern",
        ),
        ({"school_claims": [{"claim": "groups", "values": {"id": ""}}]}, "school id"),
        ({"school_claims": [{"claim": "a..b"}]}, "not a claim name"),
        ({"district_admin_claims": [{"claim": "roles", "values": []}]}, "at least 1"),
        ({"district_admin_claims": [{"claim": "roles", "values": [" "]}]}, "empty"),
        ({"staff_id_claim": ""}, "not a claim name"),
        ({"school_claims": [{"claim": "schools", "prefix": "x"}]}, "Extra inputs"),
    ],
)
def test_invalid_staff_policies_are_refused_with_the_reason(
    staff: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        StaffPolicy.model_validate(staff)
    assert message in str(caught.value)


def test_a_policy_file_with_a_bad_staff_section_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "district.yaml"
    path.write_text("staff:\n  school_claims:\n    - claim: groups\n      pattern: 'x'\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert "staff.school_claims.0.pattern" in str(caught.value)


def test_the_policy_examples_of_the_staff_sign_in_guide_are_valid() -> None:
    """docs/operations/staff-sign-in.md: every `staff:` example loads as a policy."""
    import re

    import yaml

    guide = Path(__file__).resolve().parents[2] / "docs" / "operations" / "staff-sign-in.md"
    blocks = re.findall(r"```yaml\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    examples = [yaml.safe_load(b) for b in blocks if "staff:" in b]
    assert len(examples) == 3
    for example in examples:
        StaffPolicy.model_validate(example["staff"])
    entra, google, keycloak = (StaffPolicy.model_validate(e["staff"]) for e in examples)
    staff = entra.access(
        {"oid": "o", "sub": "s", "groups": ["6f1c3c2e-5b0a-4d0e-9c41-2d9a6f0e0123"]}
    )
    assert staff is not None and (staff.staff_id, staff.schools) == ("o", {"0123"})
    found = google.access(
        {"sub": "s", "groups": ["school-0456-office@district.example.org", "x@y"]}
    )
    assert found is not None and found.schools == {"0456"}
    assert keycloak == StaffPolicy()  # the bundled default
