"""Kafka topics of their own for one run (of a test or a benchmark), created up front."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

PARTITIONS = 3
# 2 MiB poison messages must reach the broker (and the DLQ): 8 MiB per record.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Topics:
    events: str
    inbound: str
    dlq: str
    retry: str

    @classmethod
    def fresh(cls, label: str = "t") -> Topics:
        tag = f"{label}-{uuid.uuid4().hex[:8]}"
        return cls(f"{tag}.events", f"{tag}.inbound", f"{tag}.inbound.dlq",
                   f"{tag}.inbound.retry")

    def create(self, bootstrap: str, partitions: int = PARTITIONS,
               max_message_bytes: int = MAX_MESSAGE_BYTES,
               dlq_max_message_bytes: int | None = None) -> None:
        """Creates the four topics up front (the consumers would otherwise create them with
        the broker's defaults), with room for records of `max_message_bytes` (the DLQ:
        `dlq_max_message_bytes`, if given)."""
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="csm-test-admin")
        limits = {self.events: max_message_bytes, self.inbound: max_message_bytes,
                  self.retry: max_message_bytes,
                  self.dlq: dlq_max_message_bytes or max_message_bytes}
        try:
            admin.create_topics([NewTopic(t, partitions, 1,
                                          topic_configs={"max.message.bytes": str(n)})
                                 for t, n in limits.items()])
        finally:
            admin.close()
