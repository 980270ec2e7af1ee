"""All repositories of the linking database, built from one database handle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from linking.adapters.mongo_attempts import MongoAttempts
from linking.adapters.mongo_codes import MongoActivationCodes
from linking.adapters.mongo_guardians import MongoGuardians
from linking.adapters.mongo_legacy import MongoLegacyCredentials
from linking.adapters.mongo_links import MongoLinks
from linking.adapters.mongo_restrictions import MongoRestrictions
from linking.adapters.mongo_roster import MongoRoster
from shared.runtime.outbox import ImmediateDispatch

LINKS = "links"
LIVE_LINKS = "live_links"
ROSTER = "roster"
ROSTER_IMPORTS = "roster_imports"
SCHOOLS = "schools"
GUARDIANS = "guardians"
ACTIVATION_CODES = "activation_codes"
LEGACY_CREDENTIALS = "legacy_credentials"
LEGACY_USES = "legacy_uses"
STUDENT_RESTRICTIONS = "student_restrictions"
MATCH_FAILURES = "match_failures"


@dataclass
class MongoStore:
    """The linking service's collections (no I/O until used)."""

    links: MongoLinks
    roster: MongoRoster
    guardians: MongoGuardians
    codes: MongoActivationCodes
    legacy: MongoLegacyCredentials
    attempts: MongoAttempts
    restrictions: MongoRestrictions

    @classmethod
    def on(
        cls, db: AsyncDatabase[dict[str, Any]], dispatch: ImmediateDispatch | None = None
    ) -> MongoStore:
        return cls(
            links=MongoLinks(db[LINKS], db[LIVE_LINKS], dispatch, guardians=GUARDIANS),
            roster=MongoRoster(db[ROSTER], db[ROSTER_IMPORTS], db[SCHOOLS]),
            guardians=MongoGuardians(db[GUARDIANS]),
            codes=MongoActivationCodes(db[ACTIVATION_CODES]),
            legacy=MongoLegacyCredentials(db[LEGACY_CREDENTIALS], db[LEGACY_USES]),
            attempts=MongoAttempts(db[MATCH_FAILURES]),
            restrictions=MongoRestrictions(db[STUDENT_RESTRICTIONS]),
        )

    async def create_indexes(self) -> None:
        """Every index the service relies on (idempotent)."""
        for repo in (
            self.links,
            self.roster,
            self.guardians,
            self.codes,
            self.legacy,
            self.attempts,
            self.restrictions,
        ):
            await repo.create_indexes()
