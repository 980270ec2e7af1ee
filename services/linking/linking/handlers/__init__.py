"""Use cases of the linking service: one function per command or consumed event.

Every function takes a :class:`Deps` bundle of ports and the message. A state change and
the events it causes are written together by the repository (transactional outbox in the
link document) and published right after the write. Consumed events are handled
idempotently: transitions are guarded by the link's state and version, links created from
claims have deterministic ids, and failed-attempt records are keyed.

| module | holds |
|---|---|
| ``deps`` | the ports bundle and the clock |
| ``events`` | the contract events a transition causes |
| ``steps`` | guarded transitions, attempt leases, authorisation, loading |
| ``guardian`` | request, list, withdraw |
| ``queue`` | the school's queue and a student's links |
| ``staff`` | decisions and restrictions |
| ``codes`` | activation codes |
| ``imports`` | roster and legacy-credential imports |
| ``consumed`` | reactions to identity's and the scheduler's events |
"""

from linking.handlers.codes import (
    issue_activation_code,
    list_activation_codes,
    revoke_activation_code,
)
from linking.handlers.consumed import (
    on_account_created,
    on_account_deleted,
    on_email_verified,
    on_link_expired,
    on_profile_updated,
    on_sessions_ended,
)
from linking.handlers.deps import Deps, InvalidCursor, utcnow
from linking.handlers.guardian import RequestLink, list_links, request_link, withdraw_link
from linking.handlers.imports import (
    ImportSummary,
    LegacyImportSummary,
    import_legacy_credentials,
    import_roster,
    list_schools,
)
from linking.handlers.queue import QueueQuery, school_queue, student_links
from linking.handlers.staff import (
    StaffDecision,
    approve_link,
    deny_link,
    lift_restriction,
    revoke_link,
)
from linking.handlers.steps import require_district_admin

__all__ = [
    "Deps",
    "ImportSummary",
    "InvalidCursor",
    "LegacyImportSummary",
    "QueueQuery",
    "RequestLink",
    "StaffDecision",
    "approve_link",
    "deny_link",
    "import_legacy_credentials",
    "import_roster",
    "issue_activation_code",
    "lift_restriction",
    "list_activation_codes",
    "list_links",
    "list_schools",
    "on_account_created",
    "on_account_deleted",
    "on_email_verified",
    "on_link_expired",
    "on_profile_updated",
    "on_sessions_ended",
    "request_link",
    "require_district_admin",
    "revoke_activation_code",
    "revoke_link",
    "school_queue",
    "student_links",
    "utcnow",
    "withdraw_link",
]
