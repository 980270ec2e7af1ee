"""Every event of the catalog (contract §3) as a frozen, versioned pydantic model.

Evolution rules (docs/events.md): a new field is added as optional with a default; a
removed or retyped field is a new version (``version = 2``) published beside the old
one. Consumers ignore fields they do not know (``extra="ignore"``), so an old consumer
parses a newer event of the same version.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.topics import Topic

Locale = str
LinkMethod = Literal["in_person", "activation_code", "legacy_credentials"]


class Model(BaseModel):
    """Frozen value object tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Model):
    """Base of every event: its topic, schema version, Kafka key field and secrecy."""

    topic: ClassVar[Topic]
    version: ClassVar[int] = 1
    key_field: ClassVar[str] = "account_id"
    #: A secret-bearing event travels only on an internal topic read by the notifier.
    carries_secret: ClassVar[bool] = False
    #: Field names never to be logged or traced.
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents ``type`` of this event."""
        return str(cls.topic)

    def key(self) -> str:
        """The Kafka message key: ``account_id`` or ``link_id``."""
        return str(getattr(self, self.key_field))

    def subject(self) -> str:
        """The CloudEvents ``subject``: the aggregate the event is about."""
        return self.key()


class StudentClaim(Model):
    """A child named by the guardian in the registration wizard (no secret)."""

    school_id: str
    student_id: str
    student_last_name: str


PhoneKind = Literal["mobile", "home", "work"]


class Phone(Model):
    """One guardian phone, as the SIS needs it."""

    kind: PhoneKind
    #: The digits the guardian typed (no formatting), as first published.
    number: str
    extension: str | None = None
    unlisted: bool = False
    #: Addition: the number in E.164 (``+19045550100``); null when it cannot be written so
    #: (a 7-digit local number without its area code).
    e164: str | None = None
    #: Addition: the guardian's consent to text messages on this number (mobile only);
    #: null when the producer did not say.
    sms: bool | None = None


class PostalAddress(Model):
    """The guardian's postal address (US: two-letter state, ZIP or ZIP+4)."""

    street: str
    apt: str | None = None
    city: str
    state: str
    zip: str


class GuardianContact(Model):
    """Who the guardian is, for the SIS: name, email and phones; and, added for the SIS
    (issue 20), the whole contact block the guardian keeps up to date: which phone to call
    in an emergency, the secondary email and the postal address. A field is null when
    the guardian gave none (or, in an event recorded before the addition, unknown)."""

    name: str
    email: str
    phones: list[Phone] = Field(default_factory=list)
    emergency_phone: PhoneKind | None = None
    secondary_email: str | None = None
    address: PostalAddress | None = None


class StudentRef(Model):
    """The student a link is about."""

    student_id: str
    school_id: str
    first_name: str | None = None
    last_name: str | None = None


class _Recipient(Model):
    """Who the notifier writes to (additions to the contract's minimum fields)."""

    email: str | None = None
    locale: Locale = "en"
    first_name: str | None = None


# --- identity -------------------------------------------------------------------------


class AccountCreated(Event):
    topic = Topic.ACCOUNT_CREATED
    account_id: str
    email: str
    first_name: str
    last_name: str
    locale: Locale
    created_at: AwareDatetime
    student_claims: list[StudentClaim] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    # Additions: the rest of the contact block, which linking passes on to the SIS.
    emergency_phone: PhoneKind | None = None
    secondary_email: str | None = None
    address: PostalAddress | None = None


class EmailVerificationRequested(Event):
    topic = Topic.EMAIL_VERIFICATION_REQUESTED
    carries_secret = True
    secret_fields = frozenset({"token"})
    account_id: str
    email: str
    locale: Locale
    first_name: str
    token: str
    expires_at: AwareDatetime
    reason: Literal["registration", "resend", "reactivation"]


class EmailVerified(Event):
    topic = Topic.EMAIL_VERIFIED
    account_id: str
    email: str
    verified_at: AwareDatetime
    locale: Locale = "en"
    first_name: str | None = None
    #: True when this verification re-activates a disabled account.
    reactivated: bool = False


class DuplicateRegistrationAttempted(Event):
    topic = Topic.DUPLICATE_REGISTRATION_ATTEMPTED
    account_id: str
    email: str
    locale: Locale
    at: AwareDatetime
    first_name: str | None = None


class PasswordResetRequested(Event):
    topic = Topic.PASSWORD_RESET_REQUESTED
    carries_secret = True
    secret_fields = frozenset({"token"})
    account_id: str
    email: str
    locale: Locale
    token: str
    expires_at: AwareDatetime
    first_name: str | None = None


class PasswordChanged(_Recipient, Event):
    topic = Topic.PASSWORD_CHANGED
    account_id: str
    changed_at: AwareDatetime
    via: Literal["change", "reset"]


class AccountSignedIn(Event):
    topic = Topic.ACCOUNT_SIGNED_IN
    account_id: str
    at: AwareDatetime


class AccountDisabled(_Recipient, Event):
    topic = Topic.ACCOUNT_DISABLED
    account_id: str
    reason: str
    at: AwareDatetime


class AccountDeleted(Event):
    topic = Topic.ACCOUNT_DELETED
    account_id: str
    reason: str
    at: AwareDatetime


_EMAIL_ONLY: tuple[Literal["email", "sms"], ...] = ("email",)


class NotificationPreferences(Model):
    """What the guardian wants to hear about (security mail is always sent)."""

    channels: list[Literal["email", "sms"]] = Field(default_factory=lambda: list(_EMAIL_ONLY))
    #: Kinds of non-security mail: ``link_updates``, ``reminders``, ``account``.
    kinds: list[str] = Field(default_factory=lambda: ["link_updates", "reminders", "account"])


class AccountProfileUpdated(Event):
    """The guardian changed their profile; carries the fields other services keep."""

    topic = Topic.ACCOUNT_PROFILE_UPDATED
    account_id: str
    first_name: str
    last_name: str
    locale: Locale
    phones: list[Phone] = Field(default_factory=list)
    notification_preferences: NotificationPreferences = Field(
        default_factory=NotificationPreferences
    )
    updated_at: AwareDatetime
    # Additions: the rest of the contact block, which linking passes on to the SIS. An
    # event without these keys (an older identity) says nothing about them.
    emergency_phone: PhoneKind | None = None
    secondary_email: str | None = None
    address: PostalAddress | None = None


# --- linking --------------------------------------------------------------------------


class _LinkRecipient(Model):
    """Guardian contact carried on link events so the notifier can write."""

    guardian_email: str | None = None
    guardian_name: str | None = None
    locale: Locale = "en"


class LinkRequested(_LinkRecipient, Event):
    topic = Topic.LINK_REQUESTED
    key_field = "link_id"
    link_id: str
    account_id: str
    school_id: str
    student_id: str
    method: LinkMethod
    requested_at: AwareDatetime
    expires_at: AwareDatetime


class LinkApproved(Event):
    topic = Topic.LINK_APPROVED
    key_field = "link_id"
    link_id: str
    account_id: str
    guardian: GuardianContact
    student: StudentRef
    method: LinkMethod
    approved_by: str
    approved_at: AwareDatetime
    id_document_type: str | None = None
    locale: Locale = "en"


class GuardianContactUpdated(Event):
    """Addition (issue 20): the contact block of a guardian with an approved link changed
    (phones, SMS consent, emergency phone, address, secondary email, name or language).
    Published once per change for each announced approved link, keyed by ``link_id``
    like every public link event, with the whole block as ``LinkApproved`` carries it."""

    topic = Topic.GUARDIAN_CONTACT_UPDATED
    key_field = "link_id"
    link_id: str
    account_id: str
    student_id: str
    school_id: str
    guardian: GuardianContact
    #: Which parts differ from what this link last announced: ``name``, ``email``,
    #: ``phones``, ``emergency_phone``, ``secondary_email``, ``address``, ``locale``.
    changed: list[str] = Field(default_factory=list)
    #: When the guardian made the change (identity's time).
    updated_at: AwareDatetime
    locale: Locale = "en"


class LinkDenied(_LinkRecipient, Event):
    topic = Topic.LINK_DENIED
    key_field = "link_id"
    link_id: str
    account_id: str
    student_id: str
    school_id: str
    reason: str
    denied_by: str
    denied_at: AwareDatetime


class LinkRevoked(_LinkRecipient, Event):
    topic = Topic.LINK_REVOKED
    key_field = "link_id"
    link_id: str
    account_id: str
    student_id: str
    school_id: str
    reason: str
    revoked_at: AwareDatetime
    revoked_by: str | None = None


class LinkWithdrawn(_LinkRecipient, Event):
    """Addition: a pending request withdrawn by the guardian (``reason`` ``guardian``) or
    dropped because the account was deleted (``account_deleted``)."""

    topic = Topic.LINK_WITHDRAWN
    key_field = "link_id"
    link_id: str
    account_id: str
    student_id: str
    school_id: str
    reason: str
    withdrawn_at: AwareDatetime


# --- scheduler ------------------------------------------------------------------------


class LinkExpired(_LinkRecipient, Event):
    topic = Topic.LINK_EXPIRED
    key_field = "link_id"
    link_id: str
    account_id: str
    requested_at: AwareDatetime
    expired_at: AwareDatetime
    school_id: str | None = None
    student_id: str | None = None


class InactivityTimeout(Event):
    topic = Topic.INACTIVITY_TIMEOUT
    account_id: str
    stage: Literal["disable", "delete"]
    last_activity_at: AwareDatetime
    due_at: AwareDatetime


class LinkExpiryReminder(_LinkRecipient, Event):
    topic = Topic.LINK_EXPIRY_REMINDER
    key_field = "link_id"
    link_id: str
    account_id: str
    school_id: str
    student_id: str
    expires_at: AwareDatetime


class InactivityReminder(_Recipient, Event):
    topic = Topic.INACTIVITY_REMINDER
    account_id: str
    last_activity_at: AwareDatetime
    disable_at: AwareDatetime


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type(): cls
    for cls in (
        AccountCreated,
        EmailVerificationRequested,
        EmailVerified,
        DuplicateRegistrationAttempted,
        PasswordResetRequested,
        PasswordChanged,
        AccountSignedIn,
        AccountDisabled,
        AccountDeleted,
        AccountProfileUpdated,
        LinkRequested,
        LinkApproved,
        LinkDenied,
        LinkRevoked,
        LinkWithdrawn,
        GuardianContactUpdated,
        LinkExpired,
        InactivityTimeout,
        LinkExpiryReminder,
        InactivityReminder,
    )
}


def event_class(event_type: str) -> type[Event]:
    """The model for a CloudEvents ``type``; ``KeyError`` if it is not in the catalog."""
    return EVENT_TYPES[event_type]


__all__ = ["EVENT_TYPES", "Event", "datetime", "event_class"] + [name for name in EVENT_TYPES]
