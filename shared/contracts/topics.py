"""Topic names, in one place, and who produces and consumes each.

Topic names equal the event names of the contract (§3); a deployment may put a prefix
before every name (``KAFKA_TOPIC_PREFIX``) to share a cluster. Every topic has a
dead-letter twin ``<topic>.DLQ``.
"""

from __future__ import annotations

from enum import StrEnum

DLQ_SUFFIX = ".DLQ"


class Topic(StrEnum):
    """Every topic of the catalog; the value is the unprefixed topic name."""

    ACCOUNT_CREATED = "AccountCreated"
    EMAIL_VERIFICATION_REQUESTED = "EmailVerificationRequested"
    EMAIL_VERIFIED = "EmailVerified"
    DUPLICATE_REGISTRATION_ATTEMPTED = "DuplicateRegistrationAttempted"
    PASSWORD_RESET_REQUESTED = "PasswordResetRequested"  # noqa: S105 (a topic name)
    PASSWORD_CHANGED = "PasswordChanged"  # noqa: S105 (a topic name)
    ACCOUNT_SIGNED_IN = "AccountSignedIn"
    ACCOUNT_DISABLED = "AccountDisabled"
    ACCOUNT_DELETED = "AccountDeleted"
    LINK_REQUESTED = "LinkRequested"
    LINK_APPROVED = "LinkApproved"
    LINK_DENIED = "LinkDenied"
    LINK_REVOKED = "LinkRevoked"
    LINK_EXPIRED = "LinkExpired"
    INACTIVITY_TIMEOUT = "InactivityTimeout"
    # Additions to the contract (documented in docs/events.md): profile changes the other
    # services keep a copy of (locale, phones, notification preferences), and reminders
    # ahead of a deadline, raised by the scheduler and mailed by the notifier.
    ACCOUNT_PROFILE_UPDATED = "AccountProfileUpdated"
    # (reminders) to the contract (documented in docs/events.md): reminders ahead of a
    # deadline, raised by the scheduler and mailed by the notifier.
    LINK_EXPIRY_REMINDER = "LinkExpiryReminder"
    INACTIVITY_REMINDER = "InactivityReminder"
    # (linking) addition: a pending request withdrawn by the guardian or dropped because the
    # account was deleted, so that timers can be cancelled (docs/services/linking.md).
    LINK_WITHDRAWN = "LinkWithdrawn"
    # (SIS kit, issue 20) addition: a linked guardian's contact details or consents changed;
    # public, so the SIS keeps phones, SMS consent and address current after approval.
    GUARDIAN_CONTACT_UPDATED = "GuardianContactUpdated"


def topic_name(topic: Topic | str, prefix: str = "") -> str:
    """The physical topic name for ``topic`` under an optional cluster prefix."""
    return f"{prefix}{topic}"


def dlq_name(topic: Topic | str, prefix: str = "") -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic_name(topic, prefix)}{DLQ_SUFFIX}"


def all_topic_names(prefix: str = "") -> list[str]:
    """Every topic of the catalog and its DLQ, prefixed."""
    names: list[str] = []
    for topic in Topic:
        names += [topic_name(topic, prefix), dlq_name(topic, prefix)]
    return names


T = Topic

#: Which service publishes each topic (exactly one producer per topic).
PRODUCERS: dict[Topic, str] = {
    T.ACCOUNT_CREATED: "identity",
    T.EMAIL_VERIFICATION_REQUESTED: "identity",
    T.EMAIL_VERIFIED: "identity",
    T.DUPLICATE_REGISTRATION_ATTEMPTED: "identity",
    T.PASSWORD_RESET_REQUESTED: "identity",
    T.PASSWORD_CHANGED: "identity",
    T.ACCOUNT_SIGNED_IN: "identity",
    T.ACCOUNT_DISABLED: "identity",
    T.ACCOUNT_DELETED: "identity",
    T.ACCOUNT_PROFILE_UPDATED: "identity",
    T.LINK_REQUESTED: "linking",
    T.LINK_APPROVED: "linking",
    T.LINK_DENIED: "linking",
    T.LINK_REVOKED: "linking",
    T.LINK_WITHDRAWN: "linking",
    T.GUARDIAN_CONTACT_UPDATED: "linking",
    T.LINK_EXPIRED: "scheduler",
    T.INACTIVITY_TIMEOUT: "scheduler",
    T.LINK_EXPIRY_REMINDER: "scheduler",
    T.INACTIVITY_REMINDER: "scheduler",
}

#: Which topics each service consumes; its consumer group id is the service name.
CONSUMERS: dict[str, frozenset[Topic]] = {
    "identity": frozenset({T.INACTIVITY_TIMEOUT}),
    "linking": frozenset(
        {
            T.ACCOUNT_CREATED,
            T.EMAIL_VERIFIED,
            T.LINK_EXPIRED,
            T.ACCOUNT_DELETED,
            T.ACCOUNT_PROFILE_UPDATED,
            T.PASSWORD_CHANGED,
            T.ACCOUNT_DISABLED,
        }
    ),
    "scheduler": frozenset(
        {
            T.LINK_REQUESTED,
            T.LINK_APPROVED,
            T.LINK_DENIED,
            T.LINK_REVOKED,
            T.ACCOUNT_CREATED,
            T.EMAIL_VERIFIED,
            T.ACCOUNT_SIGNED_IN,
            T.ACCOUNT_DELETED,
            T.LINK_WITHDRAWN,
        }
    ),
    "notifier": frozenset(
        {
            T.EMAIL_VERIFICATION_REQUESTED,
            T.DUPLICATE_REGISTRATION_ATTEMPTED,
            T.EMAIL_VERIFIED,
            T.PASSWORD_RESET_REQUESTED,
            T.PASSWORD_CHANGED,
            T.LINK_REQUESTED,
            T.LINK_APPROVED,
            T.LINK_DENIED,
            T.LINK_EXPIRED,
            T.LINK_REVOKED,
            T.ACCOUNT_DISABLED,
            T.LINK_EXPIRY_REMINDER,
            T.INACTIVITY_REMINDER,
            T.ACCOUNT_PROFILE_UPDATED,
            T.ACCOUNT_DELETED,
        }
    ),
}

#: Topics whose events carry a secret (a token): only the notifier may read them.
SECRET_TOPICS: frozenset[Topic] = frozenset(
    {T.EMAIL_VERIFICATION_REQUESTED, T.PASSWORD_RESET_REQUESTED}
)

#: The public topics an SIS consumer may read (Kafka ACLs of the `sis` user, the SIS
#: AsyncAPI document, webhooks). LinkExpired was added so that the SIS can close a
#: pending record it learnt of, GuardianContactUpdated so that the SIS keeps a linked
#: guardian's phones, consents and address current; only ever add to this set.
SIS_TOPICS: frozenset[Topic] = frozenset(
    {
        T.LINK_APPROVED,
        T.LINK_DENIED,
        T.LINK_REVOKED,
        T.LINK_WITHDRAWN,
        T.LINK_EXPIRED,
        T.GUARDIAN_CONTACT_UPDATED,
    }
)

# The webhooks service delivers exactly the public SIS topics to the SIS's HTTPS endpoints
# (an SIS without Kafka; docs/decisions.md), so it reads what the `sis` user reads.
CONSUMERS["webhooks"] = SIS_TOPICS
