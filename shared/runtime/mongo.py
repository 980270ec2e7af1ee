"""MongoDB through PyMongo's native async client (motor is deprecated: docs/decisions.md).

Only what real MongoDB does is used, so ``MONGODB_URI`` works unchanged against a replica
set; the local stack runs a wire-compatible server.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from shared.runtime.settings import ServiceSettings

#: Errors after which the same operation may succeed later: never a reason to DLQ.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)


def create_client(settings: ServiceSettings, **kwargs: Any) -> AsyncMongoClient[dict[str, Any]]:
    """A client for the service (timezone-aware datetimes, short server selection)."""
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": 5000,
        "appname": settings.service_name,
        "retryWrites": True,
    }
    if settings.mongodb_tls_ca_file is not None:
        options["tlsCAFile"] = str(settings.mongodb_tls_ca_file)
    options.update(kwargs)
    return AsyncMongoClient(settings.mongodb_uri.get_secret_value(), **options)


def service_database(
    client: AsyncMongoClient[dict[str, Any]], settings: ServiceSettings
) -> AsyncDatabase[dict[str, Any]]:
    """The service's own database."""
    return client[settings.database_name]


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """Raise if the server does not answer."""
    await client.admin.command("ping")
