"""The v1 schema, frozen: migration 1 creates exactly these tables, so a fresh database
replays v1 and then every later migration, like an old one being upgraded. Never edit;
the live tables (with later columns) are in `db.py`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

_v1 = MetaData()

Table(
    "organizations",
    _v1,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
)
Table(
    "devices",
    _v1,
    Column("id", String(32), primary_key=True),
    Column("org_id", String(32), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)
Table(
    "tokens",
    _v1,
    Column("hash", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("org_id", String(32), ForeignKey("organizations.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id")),
    Column("expires_at", BigInteger),
    Column("used_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("created", BigInteger, nullable=False),
    Index("ix_tokens_device", "device_id"),
)
Table(
    "circles",
    _v1,
    Column("id", String(64), primary_key=True),
    Column("created_by", String(32), ForeignKey("devices.id"), nullable=False),
    Column("next_seq", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
)
Table(
    "circle_members",
    _v1,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("joined", BigInteger, nullable=False),
    Column("removed_at", BigInteger),
    PrimaryKeyConstraint("circle_id", "device_id"),
    Index("ix_members_device", "device_id"),
)
Table(
    "invites",
    _v1,
    Column("hash", String(64), primary_key=True),
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("created_by", String(32), ForeignKey("devices.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
    Column("created", BigInteger, nullable=False),
)
Table(
    "ops",
    _v1,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("op_id", String(64), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("circle_id", "seq"),
    UniqueConstraint("circle_id", "op_id", name="uq_ops_circle_op"),
)

_V1_TABLES = ["organizations", "devices", "tokens", "circles", "circle_members", "invites", "ops"]


def create_v1(conn: Connection) -> None:
    """Migration 1: the initial tables, as they were."""
    _v1.create_all(conn, tables=[_v1.tables[name] for name in _V1_TABLES])
