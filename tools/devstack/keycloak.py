"""Keycloak 26 (its server distribution from Maven Central) on 127.0.0.1:8380: the local
district's OpenID provider for staff sign-in.

The zip ``org.keycloak:keycloak-quarkus-dist`` is resolved with Maven through
``tools/devstack/keycloak/pom.xml`` (local repository ``.cache/keycloak/m2``) and unzipped
into ``.cache/keycloak/dist``; ``bin/kc.sh start-dev`` runs it on the machine's JDK (17 or
later). Its H2 database (``dev-file``) lives in ``var/keycloak-data``; the realms in
``tools/devstack/keycloak/*-realm.json`` are imported into an empty database, and the
database is recreated whenever one of those files (or the Keycloak version) changes, so the
realm always matches the repository while a restart skips the schema creation and import
(about half of a cold start). Logs: ``var/log/keycloak.log``.

Everything here is for local development and tests only: the admin account, the client
secret and the staff passwords in the realm files are fixed, published values.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import shutil
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from tools.devstack import procs
from tools.devstack.paths import (
    HOST,
    KEYCLOAK_CACHE,
    KEYCLOAK_DATA,
    KEYCLOAK_DIST,
    KEYCLOAK_FILES,
    KEYCLOAK_ISSUER,
    KEYCLOAK_POM,
    KEYCLOAK_PORT,
    KEYCLOAK_REALM,
    KEYCLOAK_URL,
    LOG_DIR,
    ROOT,
)
from tools.devstack.service import Service

_STAMP = ".pom.sha256"
_DATA_STAMP = ".realms.sha256"
_MAVEN_REPO = KEYCLOAK_CACHE / "m2"

#: Local-only values (published in the realm files and here on purpose).
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "local-dev-admin"  # noqa: S105 - local dev stack only
CONSOLE_CLIENT_ID = "staff-console"
CONSOLE_CLIENT_SECRET = "local-dev-staff-console-secret"  # noqa: S105 - local dev stack only
#: A public client of the local realm whose access tokens live one second (tests only).
SHORT_LIVED_CLIENT_ID = "staff-tests-short-lived"
#: The redirect URI registered for the console (nothing needs to listen there for
#: :func:`sign_in`, which stops at the redirect).
CONSOLE_REDIRECT_URI = "http://127.0.0.1:8080/staff/auth/callback"
#: username -> password of the staff users of the local ``district`` realm.
STAFF_USERS = {
    "secretary.a": "dev-secretary-a",  # school 0123
    "secretary.b": "dev-secretary-b",  # school 0456
    "district.admin": "dev-district-admin",  # realm role district-admin
    "staff.noschool": "dev-staff-noschool",  # no school assigned yet
}
SCHOOL_A = "0123"
SCHOOL_B = "0456"


def realm_files() -> list[Path]:
    """The realm files imported at start (``tools/devstack/keycloak/*-realm.json``)."""
    return sorted(KEYCLOAK_FILES.glob("*-realm.json"))


def pom_digest() -> str:
    """sha256 of the pom, stamped into the distribution so a changed pom re-resolves it."""
    return hashlib.sha256(KEYCLOAK_POM.read_bytes()).hexdigest()


def data_digest() -> str:
    """sha256 over the pom and the realm files: the database is recreated when it changes."""
    digest = hashlib.sha256(KEYCLOAK_POM.read_bytes())
    for path in realm_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def dist_ready() -> bool:
    """True when ``.cache/keycloak/dist`` holds a complete unzip of the pom's version."""
    try:
        return (KEYCLOAK_DIST / _STAMP).read_text().strip() == pom_digest()
    except OSError:
        return False


def keycloak_version() -> str:
    """Version of the unzipped distribution (``?`` when not resolved)."""
    try:
        return (KEYCLOAK_DIST / "version.txt").read_text().split()[-1]
    except (OSError, IndexError):
        return "?"


def resolve_dist(force: bool = False) -> float | None:
    """Fetch the distribution zip with Maven and unzip it into ``.cache/keycloak/dist``.

    Like the Kafka jars: work happens in a temporary directory renamed into place only
    when complete. Returns the seconds spent, or ``None`` when the cache was reused.
    """
    if dist_ready() and not force:
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        raise procs.DevstackError(
            "[keycloak] `mvn` not found on PATH; install Maven (e.g. `apt-get install maven`)"
        )
    if shutil.which("java") is None:
        raise procs.DevstackError("[keycloak] `java` not found on PATH; install a JDK >= 17")
    KEYCLOAK_CACHE.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    download = KEYCLOAK_CACHE / "zip.tmp"
    unpacked = KEYCLOAK_CACHE / "dist.tmp"
    shutil.rmtree(download, ignore_errors=True)
    shutil.rmtree(unpacked, ignore_errors=True)
    print(f"[keycloak] resolving the server distribution from Maven Central into {KEYCLOAK_DIST}")
    started = time.monotonic()
    log_path = LOG_DIR / "keycloak-mvn.log"
    argv = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(KEYCLOAK_POM),
        f"-Dmaven.repo.local={_MAVEN_REPO}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={download}",
        "-DincludeTypes=zip",
    ]
    with log_path.open("wb") as log:
        result = subprocess.run(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=1800
        )
    zips = sorted(download.glob("keycloak-quarkus-dist-*.zip"))
    if result.returncode != 0 or not zips:
        raise procs.DevstackError(
            f"[keycloak] Maven failed (exit {result.returncode}); see {log_path}\n"
            f"{procs.log_tail(log_path)}"
        )
    with zipfile.ZipFile(zips[0]) as archive:
        archive.extractall(unpacked)
    # the zip holds one top directory, keycloak-<version>/
    (top,) = [p for p in unpacked.iterdir() if p.is_dir()]
    (top / _STAMP).write_text(pom_digest() + "\n")
    shutil.rmtree(KEYCLOAK_DIST, ignore_errors=True)
    top.rename(KEYCLOAK_DIST)
    shutil.rmtree(unpacked, ignore_errors=True)
    # the zip stays in the Maven repository (.cache/keycloak/m2); no second copy
    shutil.rmtree(download, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"[keycloak] Keycloak {keycloak_version()} ready in {elapsed:.1f}s")
    return elapsed


def prepare_data() -> bool:
    """Put the realm files where ``--import-realm`` reads them; recreate the database when
    they changed since it was created. Returns True when the database is (re)created."""
    import_dir = KEYCLOAK_DIST / "data" / "import"
    shutil.rmtree(import_dir, ignore_errors=True)
    import_dir.mkdir(parents=True)
    for path in realm_files():
        shutil.copyfile(path, import_dir / path.name)
    stamp = KEYCLOAK_DATA / _DATA_STAMP
    wanted = data_digest()
    try:
        if stamp.read_text().strip() == wanted:
            return False
    except OSError:
        pass
    shutil.rmtree(KEYCLOAK_DATA, ignore_errors=True)
    KEYCLOAK_DATA.mkdir(parents=True)
    stamp.write_text(wanted + "\n")
    return True


def discovery(issuer: str = KEYCLOAK_ISSUER, timeout: float = 5.0) -> dict[str, Any]:
    """The realm's OpenID Connect discovery document."""
    with urllib.request.urlopen(  # noqa: S310 - fixed http://127.0.0.1 URL
        f"{issuer}/.well-known/openid-configuration", timeout=timeout
    ) as response:
        return dict(json.loads(response.read()))


def probe(timeout: float = 5.0) -> str:
    """Ready when the district realm's discovery document names the expected issuer."""
    document = discovery(KEYCLOAK_ISSUER, timeout)
    if document.get("issuer") != KEYCLOAK_ISSUER:
        raise RuntimeError(f"issuer {document.get('issuer')!r}, expected {KEYCLOAK_ISSUER!r}")
    return f"issuer {KEYCLOAK_ISSUER}"


class SignInFailed(RuntimeError):
    """The provider did not hand out a code (wrong password, unknown client...)."""


def sign_in(
    username: str,
    password: str | None = None,
    *,
    realm: str = KEYCLOAK_REALM,
    client_id: str = CONSOLE_CLIENT_ID,
    client_secret: str | None = CONSOLE_CLIENT_SECRET,
    redirect_uri: str = CONSOLE_REDIRECT_URI,
    base_url: str = KEYCLOAK_URL,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Sign ``username`` in through the realm's login page the way a browser does
    (authorization code + PKCE S256, state and nonce) and return the token response
    (``access_token``, ``id_token``, ``refresh_token``...). For tests and local scripts.

    The staff password defaults to the local one of :data:`STAFF_USERS`. Pass
    ``client_secret=None`` for a public client.
    """
    import httpx  # the project's HTTP client; imported late like the Kafka client

    password = STAFF_USERS[username] if password is None else password
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    oidc = f"{base_url}/realms/{realm}/protocol/openid-connect"
    with httpx.Client(follow_redirects=False, timeout=timeout) as client:
        page = client.get(
            f"{oidc}/auth",
            params={
                "client_id": client_id,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        if page.status_code != 200 or form is None:
            raise SignInFailed(f"no login form (HTTP {page.status_code})")
        # Keycloak marks its cookies Secure; a browser sends them to http://127.0.0.1
        # (a trustworthy origin), httpx's cookie jar does not: hand them over explicitly.
        cookies = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
        answer = client.post(
            html.unescape(form.group(1)),
            data={"username": username, "password": password, "credentialId": ""},
            headers={"Cookie": cookies},
        )
        location = answer.headers.get("location", "")
        if answer.status_code not in (302, 303) or not location.startswith(redirect_uri):
            raise SignInFailed(f"sign-in of {username!r} refused (HTTP {answer.status_code})")
        query = dict(
            part.split("=", 1) for part in location.split("?", 1)[1].split("&") if "=" in part
        )
        if query.get("state") != state:
            raise SignInFailed("state changed on the way back")
        token = client.post(
            f"{oidc}/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
            auth=(client_id, client_secret) if client_secret else None,  # type: ignore[arg-type]
        )
        if token.status_code != 200:
            raise SignInFailed(f"token endpoint answered HTTP {token.status_code}")
        return dict(token.json())


def admin_token(timeout: float = 30.0) -> str:
    """An access token of the local master realm's admin (admin REST API, tests only)."""
    import httpx

    answer = httpx.post(
        f"{KEYCLOAK_URL}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
        },
        timeout=timeout,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


class KeycloakService(Service):
    """Keycloak in development mode, serving the realms of ``tools/devstack/keycloak``."""

    name = "keycloak"
    #: both in kc.sh's command line and in the JVM's (``-Dkc.home.dir=.../dist/bin/..``)
    marker = "keycloak/dist/bin"
    port = KEYCLOAK_PORT
    # a first start also "augments" the distribution (a one-off build step) and imports
    # the realms: minutes on a busy 2-core machine
    start_timeout = 420.0
    stop_timeout = 30.0

    def prepare(self) -> dict[str, float]:
        """Resolve the distribution (first run only); refresh the realm files."""
        timings: dict[str, float] = {}
        resolved = resolve_dist()
        if resolved is not None:
            timings["maven_resolve"] = resolved
        if prepare_data():
            print(f"[keycloak] new database in {KEYCLOAK_DATA}: the realms will be imported")
        return timings

    def command(self) -> list[str]:
        """``sh bin/kc.sh start-dev`` on 127.0.0.1:8380 with a file database in ``var``."""
        return [
            "sh",
            str(KEYCLOAK_DIST.resolve() / "bin" / "kc.sh"),
            "start-dev",
            f"--http-host={HOST}",
            f"--http-port={KEYCLOAK_PORT}",
            # a fixed issuer, whatever host name a client uses
            f"--hostname={KEYCLOAK_URL}",
            "--db=dev-file",
            f"--db-url-path={KEYCLOAK_DATA.resolve()}",
            "--import-realm",
            "--log-level=info,org.hibernate:warn,org.infinispan:warn",
        ]

    def env(self) -> dict[str, str]:
        """The temporary admin account, created with the database, and the JIT limited to
        its first tier: start-up takes half as long on two busy cores (measured 64 s →
        28 s), which matters more here than Keycloak's peak throughput. kc.sh's default
        heap (-Xms64m -Xmx512m) is kept."""
        return {
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JAVA_OPTS_APPEND": "-XX:TieredStopAtLevel=1",
        }

    def probe(self, timeout: float) -> str:
        """The district realm's discovery document."""
        return probe(timeout)

    def describe(self) -> str:
        """Issuer and version."""
        return f"{KEYCLOAK_URL} (admin console /admin), Keycloak {keycloak_version()}"
