"""Settings of the central service, built once in ``main()`` and passed to :func:`central.app.create_app`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from central.store.base import Role


class Settings(BaseModel):
    """How one central process runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field("sqlite:///central.db", description="Store URL: sqlite:///file.db or postgresql://user@host:port/db.")
    zmq_endpoint: str | None = Field(None, description="ZeroMQ endpoint the ingest binds, tcp://HOST:PORT; None runs the API only.")
    http_host: str = Field("127.0.0.1", description="Address the HTTP API and dashboard listen on.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port the HTTP API and dashboard listen on (0 picks a free one).")
    anonymous_role: Role | None = Field(
        None, description="Role granted to requests without a token (for a control-room wall screen: viewer); None requires a token."
    )
    max_range_s: float = Field(31 * 86400.0, gt=0, description="Longest time range one measures or events request may span.")
    max_bins: int = Field(5000, ge=1, description="Most bins one measures request may return.")
    max_rows: int = Field(100_000, ge=1, description="Most stored messages one request may read (bounds memory: a month of 1-minute aggregates is 44,640).")
    title: str = Field("Simpang central", description="Name shown in the dashboard and the OpenAPI docs.")
