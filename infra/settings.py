"""Every setting, read once from the environment; fails fast when invalid."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("channel", "agent", "manager", "auditor", "admin")
# The relay's Kafka producer: kafka-python (a dependency) or confluent-kafka (librdkafka,
# the optional extra `fast`: pip install 'csm[fast]').
KAFKA_CLIENTS = ("kafka-python", "confluent")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str | None = None
    csm_data_dir: Path = Path("./.csm")
    kafka_bootstrap_servers: str | None = None
    csm_api_keys: str | None = None
    csm_timezone: str = "UTC"
    csm_cipher_key: str | None = None
    csm_topic_events: str = "csm.events"
    csm_topic_inbound: str = "csm.inbound"
    csm_topic_dlq: str = "csm.inbound.dlq"
    csm_topic_inbound_retry: str = "csm.inbound.retry"
    csm_inbound_retry_seconds: float = Field(default=600, ge=0)
    csm_inbound_retry_backoff_seconds: float = Field(default=1, gt=0)
    csm_inbound_retry_backoff_max_seconds: float = Field(default=60, gt=0)
    csm_sla_grace_seconds: float = Field(default=300, ge=0)
    csm_deadline_scan_seconds: float = Field(default=30, gt=0)
    csm_kafka_partitions: int = Field(default=6, ge=1, le=1000)
    csm_kafka_client: Literal["kafka-python", "confluent"] = "kafka-python"
    csm_body_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    csm_log_level: str = "INFO"
    csm_ready_max_lag_seconds: float = Field(default=30, gt=0)
    csm_heartbeat_seconds: float = Field(default=5, gt=0)
    csm_chain_key: str | None = None
    csm_signing_key: str | None = None
    csm_topic_audit: str = "csm.audit"
    csm_checkpoint_events: int = Field(default=10_000, ge=1)
    csm_checkpoint_seconds: float = Field(default=60, gt=0, le=86_400)

    @field_validator("csm_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"CSM_TIMEZONE {v!r} is not an IANA time zone") from None
        return v

    @field_validator("csm_kafka_client", mode="before")
    @classmethod
    def _client(cls, v: object) -> object:
        name = v.strip().lower() if isinstance(v, str) else v
        if name not in KAFKA_CLIENTS:
            raise ValueError(f"CSM_KAFKA_CLIENT {v!r} must be one of {', '.join(KAFKA_CLIENTS)}")
        if name == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
            raise ValueError("CSM_KAFKA_CLIENT=confluent needs the confluent-kafka package, "
                             "which is not installed: pip install 'csm[fast]' "
                             "(or pip install 'confluent-kafka>=2.3')")
        return name

    @field_validator("csm_api_keys")
    @classmethod
    def _keys(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        for pair in v.split(","):
            key, _, role = pair.strip().rpartition(":")
            if not key or role not in ROLES:
                raise ValueError(f"CSM_API_KEYS entry {pair!r} must be key:role, role one of {ROLES}")
        return v

    def api_keys(self) -> dict[str, str]:
        if not self.csm_api_keys:
            return {}
        pairs = (p.strip().rpartition(":") for p in self.csm_api_keys.split(","))
        return {key: role for key, _, role in pairs}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.csm_timezone)


@lru_cache
def get_settings() -> Settings:
    return Settings()
