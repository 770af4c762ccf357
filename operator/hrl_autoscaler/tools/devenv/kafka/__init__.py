"""A real Kafka for tests and the dev environment: the broker's jars from Maven Central
(:mod:`.jars`), a single KRaft broker (:mod:`.broker`), and ``hrl-autoscaler dev kafka``
(:mod:`.command`)."""

from hrl_autoscaler.tools.devenv.kafka.broker import (
    KafkaBroker,
    KafkaBrokerError,
    KafkaSettings,
)
from hrl_autoscaler.tools.devenv.kafka.jars import (
    KafkaDistribution,
    KafkaJarsError,
    ensure_kafka_libs,
)

__all__ = [
    "KafkaBroker",
    "KafkaBrokerError",
    "KafkaDistribution",
    "KafkaJarsError",
    "KafkaSettings",
    "ensure_kafka_libs",
]
