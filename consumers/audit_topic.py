"""The checkpoints on Kafka: each signed checkpoint published to `CSM_TOPIC_AUDIT` (key
`checkpoint`) once, in position order, so auditors can keep them outside csm's database."""
from __future__ import annotations

import orjson
from psycopg_pool import ConnectionPool

from csm.consumers.kafka_io import ensure_topics, producer
from csm.infra import checkpoints


class AuditTopic:
    """Publishes stored checkpoints not yet on the topic, in position order."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic, self.producer = bootstrap, topic, None

    def publish(self, pool: ConnectionPool) -> int:
        with pool.connection() as conn:
            pending = conn.execute(f"SELECT {checkpoints.COLUMNS} FROM csm_checkpoints WHERE "
                                   f"published_at IS NULL ORDER BY position LIMIT 1000"
                                   ).fetchall()
        if not pending:
            return 0
        if self.producer is None:
            ensure_topics(self.bootstrap, [self.topic], 1)
            self.producer = producer(self.bootstrap)
        futures = [self.producer.send(self.topic, key=b"checkpoint",
                                      value=orjson.dumps(checkpoints.of_row(r).as_dict()))
                   for r in pending]
        for f in futures:
            f.get(timeout=30)
        with pool.connection() as conn:
            conn.execute("UPDATE csm_checkpoints SET published_at = now() WHERE position = ANY(%s)",
                         ([r["position"] for r in pending],))
        return len(pending)

    def close(self) -> None:
        if self.producer is not None:
            self.producer.close(timeout=5)
