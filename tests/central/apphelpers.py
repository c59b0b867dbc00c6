"""An app around a real store, with one token per role, for the API tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import hash_token, new_token
from central.settings import Settings
from central.store import PlanRecord, Role, Store


@dataclass
class Api:
    """A test client plus a bearer header per role and the plans the app reported as queued."""

    client: TestClient
    store: Store
    headers: dict[Role, dict[str, str]]
    queued: list[PlanRecord] = field(default_factory=list)


def make_api(store: Store, settings: Settings | None = None) -> Api:
    """Build the app with a viewer, an engineer and an admin token."""
    headers: dict[Role, dict[str, str]] = {}
    for role in ("viewer", "engineer", "admin"):
        token = new_token()
        store.add_token(f"{role}-user", role, hash_token(token))
        headers[role] = {"Authorization": f"Bearer {token}"}
    queued: list[PlanRecord] = []
    app = create_app(settings or Settings(), store, on_plan_queued=queued.append)
    return Api(TestClient(app), store, headers, queued)
