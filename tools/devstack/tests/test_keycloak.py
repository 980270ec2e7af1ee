"""The local Keycloak's realm files and the database refresh rule (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.policy import load_policy
from shared.runtime.staff_tokens import LOCAL_OIDC_AUDIENCE, LOCAL_OIDC_ISSUER
from tools.devstack import keycloak, stack
from tools.devstack.paths import KEYCLOAK_ISSUER, KEYCLOAK_PORT


def realm(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (keycloak.KEYCLOAK_FILES / f"{name}-realm.json").read_text(encoding="utf-8")
    )
    return data


def test_the_district_realm_has_the_console_client_with_pkce_and_the_schools_claim() -> None:
    district = realm("district")
    assert district["realm"] == "district"
    clients = {c["clientId"]: c for c in district["clients"]}
    console = clients[keycloak.CONSOLE_CLIENT_ID]
    assert console["publicClient"] is False and console["secret"] == keycloak.CONSOLE_CLIENT_SECRET
    assert console["standardFlowEnabled"] and not console["directAccessGrantsEnabled"]
    assert not console["implicitFlowEnabled"]
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    mappers = {m["protocolMapper"]: m["config"] for m in console["protocolMappers"]}
    schools = mappers["oidc-usermodel-attribute-mapper"]
    assert (schools["user.attribute"], schools["claim.name"]) == ("schools", "schools")
    assert schools["multivalued"] == "true" and schools["access.token.claim"] == "true"
    assert mappers["oidc-audience-mapper"]["included.client.audience"] == LOCAL_OIDC_AUDIENCE
    assert clients[keycloak.SHORT_LIVED_CLIENT_ID]["attributes"]["access.token.lifespan"] == "1"


def test_the_realm_users_are_two_schools_one_admin_and_one_newcomer() -> None:
    users = {u["username"]: u for u in realm("district")["users"]}
    assert set(users) == set(keycloak.STAFF_USERS)
    for name, password in keycloak.STAFF_USERS.items():
        assert users[name]["credentials"][0]["value"] == password
    assert users["secretary.a"]["attributes"]["schools"] == [keycloak.SCHOOL_A]
    assert users["secretary.b"]["attributes"]["schools"] == [keycloak.SCHOOL_B]
    assert "attributes" not in users["staff.noschool"]
    assert users["district.admin"]["realmRoles"] == ["district-admin"]


def test_the_bundled_policy_reads_what_the_realm_issues() -> None:
    staff = load_policy().staff
    admin_rules = {(r.claim, tuple(r.values)) for r in staff.district_admin_claims}
    assert ("realm_access.roles", ("district-admin",)) in admin_rules
    assert [r.claim for r in staff.school_claims] == ["schools"]
    assert KEYCLOAK_ISSUER == LOCAL_OIDC_ISSUER  # linking's local default is this realm


def test_the_database_is_recreated_only_when_a_realm_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, dist, data = tmp_path / "files", tmp_path / "dist", tmp_path / "data"
    files.mkdir()
    (files / "pom.xml").write_text("<project/>")
    (files / "district-realm.json").write_text('{"realm": "district"}')
    monkeypatch.setattr(keycloak, "KEYCLOAK_FILES", files)
    monkeypatch.setattr(keycloak, "KEYCLOAK_POM", files / "pom.xml")
    monkeypatch.setattr(keycloak, "KEYCLOAK_DIST", dist)
    monkeypatch.setattr(keycloak, "KEYCLOAK_DATA", data)

    assert keycloak.prepare_data() is True
    assert (dist / "data" / "import" / "district-realm.json").exists()
    (data / "keycloakdb.mv.db").write_text("db")
    assert keycloak.prepare_data() is False
    assert (data / "keycloakdb.mv.db").exists()

    (files / "district-realm.json").write_text('{"realm": "district", "x": 1}')
    assert keycloak.prepare_data() is True
    assert not (data / "keycloakdb.mv.db").exists()


def test_the_stack_starts_keycloak_with_the_others_on_its_port() -> None:
    assert "keycloak" in stack.ALL
    service = stack.SERVICES["keycloak"]
    argv = service.command()
    assert argv[2] == "start-dev" and f"--http-port={KEYCLOAK_PORT}" in argv
    assert "--import-realm" in argv and "--db=dev-file" in argv
    assert service.marker in argv[1]
