"""Kafka consumer-group lag, the operator's backlog signal: the arithmetic (:mod:`.lag`),
reading it from Kafka (:mod:`.reader`), the Prometheus exporter (:mod:`.exporter`, command
``hrl-autoscaler kafka-lag-exporter``), and the Spark side that makes a Structured Streaming
job's progress visible as a consumer group at all (:mod:`.committer`)."""
