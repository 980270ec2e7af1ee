"""Settings of the notifier service (environment names: docs/services/notifier.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Notifier settings: SMTP relay, sender, delivery tuning (contract §7 names)."""

    service_name: ClassVar[str] = "notifier"
    default_http_port: ClassVar[int] = 8003

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    #: Upgrade the connection with STARTTLS (submission port 587).
    smtp_starttls: bool = False
    #: Implicit TLS from the first byte (port 465). Addition to the contract.
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    #: ``From`` of every mail; the district policy's ``branding.mail_from`` when unset.
    mail_from: str | None = None

    #: First retry delay after a transient SMTP failure; doubles per attempt, with jitter.
    notifier_retry_base_seconds: float = Field(default=5.0, gt=0)
    #: Longest delay between two attempts.
    notifier_retry_max_seconds: float = Field(default=900.0, gt=0)
    #: Token-bucket rate of this relay (sends per second; burst of the same size).
    notifier_max_sends_per_second: float = Field(default=20.0, gt=0)
    #: Notifications claimed per round (capped so a batch fits well inside the lease).
    notifier_batch_size: int = Field(default=50, ge=1, le=1000)
    #: How long a claimed notification stays reserved to a relay before another may retry it.
    notifier_lease_seconds: float = Field(default=60.0, gt=0)
    #: How often the sender looks for due retries when nothing woke it.
    notifier_poll_seconds: float = Field(default=1.0, gt=0)
    #: Deprecated: dates in mails are in the policy's ``time_zone`` (the one every
    #: deadline is computed in). If set, it must name the same zone or the notifier refuses
    #: to start, so that an email never prints another day than the timer fires on.
    notifier_timezone: str | None = None
    #: Most mails anyone can trigger by typing an address (verification, password reset,
    #: duplicate registration) sent to one recipient per UTC day; more are recorded as
    #: skipped (``daily_cap``). 0 turns the cap off.
    notifier_unsolicited_per_recipient_per_day: int = Field(default=10, ge=0)
    #: Days a finished notification is kept (de-duplication window), then deleted (TTL).
    notifier_retention_days: float = Field(default=30.0, gt=0)

    def production_problems(self) -> dict[str, str]:
        problems = super().production_problems()
        if self.smtp_username and not (self.smtp_starttls or self.smtp_use_tls):
            problems["smtp-plaintext-login"] = (
                "SMTP_USERNAME is set without SMTP_STARTTLS or SMTP_USE_TLS: the relay "
                "password would cross the network in clear"
            )
        return problems

    def check_timezone(self, policy_zone: str) -> None:
        """Refuse a ``NOTIFIER_TIMEZONE`` that disagrees with the policy's ``time_zone``."""
        if self.notifier_timezone and self.notifier_timezone != policy_zone:
            raise ValueError(
                f"NOTIFIER_TIMEZONE={self.notifier_timezone} disagrees with the district "
                f"policy's time_zone ({policy_zone}): deadlines are computed in the policy's "
                "zone, so set time_zone in the policy and remove NOTIFIER_TIMEZONE"
            )

    def sender_address(self, policy_mail_from: str) -> str:
        """``MAIL_FROM`` or the district sender from the policy."""
        return self.mail_from or policy_mail_from
