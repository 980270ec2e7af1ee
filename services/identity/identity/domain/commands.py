"""Commands the identity service accepts (the request bodies of contract §4), with their
structural constraints. District rules are checked in :mod:`identity.domain.validation`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.contracts.events import NotificationPreferences


class Command(BaseModel):
    """Strict request body: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MobilePhone(Command):
    number: str = Field(max_length=40, examples=["9045550100"])
    unlisted: StrictBool = False
    sms: StrictBool = False


class HomePhone(Command):
    """``{"same_as_mobile": true}`` or a number of its own."""

    same_as_mobile: StrictBool = False
    number: str | None = Field(None, max_length=40)
    unlisted: StrictBool = False


class WorkPhone(Command):
    number: str = Field(max_length=40)
    extension: str | None = Field(None, max_length=20)
    unlisted: StrictBool = False


class Phones(Command):
    """``null`` for a phone means "N/A"; ``emergency`` names one of the phones given."""

    mobile: MobilePhone | None = None
    home: HomePhone | None = None
    work: WorkPhone | None = None
    emergency: Literal["mobile", "home", "work"] | None = None


class Address(Command):
    street: str = Field(min_length=1, max_length=200)
    apt: str | None = Field(None, max_length=50)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(min_length=1, max_length=30)
    zip: str = Field(min_length=1, max_length=10)


class SecurityAnswer(Command):
    question_id: str = Field(max_length=64, examples=["first_pet"])
    answer: str = Field(max_length=200)


class StudentClaimIn(Command):
    school_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    student_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    student_last_name: str = Field(min_length=1, max_length=100)


REGISTRATION_EXAMPLE: Any = {
    "email": "jenny.denny@example.net",
    "password": "Secr3t!pw",
    "first_name": "Jenny",
    "last_name": "Denny",
    "locale": "en",
    "phones": {
        "mobile": {"number": "9045550100", "unlisted": True, "sms": False},
        "home": {"same_as_mobile": True},
        "work": None,
        "emergency": "mobile",
    },
    "secondary_email": None,
    "address": {
        "street": "111 Street Dr.", "apt": None, "city": "Jacksonville", "state": "FL",
        "zip": "32207",
    },
    "security_answers": [
        {"question_id": "first_pet", "answer": "Rover"},
        {"question_id": "birth_city", "answer": "Tampa"},
        {"question_id": "first_school", "answer": "Ortega Elementary"},
    ],
    "accepted_usage_policy": True,
    "captcha_token": None,
    "student_claims": [
        {"school_id": "0123", "student_id": "90966666", "student_last_name": "Student"}
    ],
}


class Register(Command):
    """``POST /v1/accounts``: exactly the registration body of contract §4."""

    model_config = ConfigDict(json_schema_extra={"examples": [REGISTRATION_EXAMPLE]})

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    locale: str | None = Field(None, max_length=35)
    phones: Phones = Field(default_factory=Phones)
    secondary_email: str | None = Field(None, max_length=320)
    address: Address
    security_answers: list[SecurityAnswer] = Field(default_factory=list, max_length=10)
    accepted_usage_policy: StrictBool
    captcha_token: str | None = Field(None, max_length=4096)
    student_claims: list[StudentClaimIn] = Field(default_factory=list, max_length=10)


class VerifyEmail(Command):
    """``POST /v1/email-verifications``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "q3vH0cX1mBf5Yk2u8oWl7g", "password": "Secr3t!pw"}]}
    )

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1024)


class EmailOnly(Command):
    """``POST /v1/email-verifications/resend`` and ``POST /v1/password-resets``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "jenny.denny@example.net"}]})

    email: str = Field(max_length=320)


class SignIn(Command):
    """``POST /v1/sessions``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "jenny.denny@example.net", "password": "Secr3t!pw"}]}
    )

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    #: A solved captcha: with a captcha provider configured, it lets the password be
    #: checked while the account is locked (the answer was ``captcha_required``), so a
    #: lockout never keeps the owner out.
    captcha_token: str | None = Field(None, max_length=4096)


class UpdateProfile(Command):
    """``PATCH /v1/accounts/me``: only the fields given change; the email cannot."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "locale": "es",
                    "phones": {"mobile": {"number": "904-555-0199", "sms": True},
                               "home": None, "work": None, "emergency": "mobile"},
                    "notification_preferences": {"channels": ["email", "sms"],
                                                 "kinds": ["link_updates", "account"]},
                }
            ]
        }
    )

    #: Present only so that an attempt to change it gets a clear field error.
    email: str | None = Field(None, max_length=320, description="Immutable: always refused.")
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    locale: str | None = Field(None, max_length=35)
    phones: Phones | None = None
    secondary_email: str | None = Field(None, max_length=320)
    address: Address | None = None
    notification_preferences: NotificationPreferences | None = None


class ChangePassword(Command):
    """``PUT /v1/accounts/me/password``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"current_password": "Secr3t!pw", "new_password": "N3w!pass"}]}
    )

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class ReplaceSecurityAnswers(Command):
    """``PUT /v1/accounts/me/security-questions``: the current password confirms it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "Secr3t!pw",
                    "security_answers": [
                        {"question_id": "first_pet", "answer": "Rover"},
                        {"question_id": "birth_city", "answer": "Tampa"},
                        {"question_id": "favorite_food", "answer": "Gumbo"},
                    ],
                }
            ]
        }
    )

    current_password: str = Field(max_length=1024)
    security_answers: list[SecurityAnswer] = Field(max_length=10)


class ConfirmReset(Command):
    """``POST /v1/password-resets/confirm``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "Xb1yV9s0Qk3nZr8wT2mL4a", "new_password": "N3w!pass",
                          "security_answers": None}]
        }
    )

    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(max_length=1024)
    security_answers: list[SecurityAnswer] | None = Field(None, max_length=10)

