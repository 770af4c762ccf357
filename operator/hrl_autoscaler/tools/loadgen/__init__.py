"""The IoT load generator: sensor events at a scheduled rate into a directory or Kafka.

``events`` makes the events (devices, types, readings, anomalies), ``schedule`` says how many
per tick (a constant rate, a simulator scenario or a replayed trace), ``sinks`` writes them
(atomic JSON-lines files, Kafka), ``runner`` paces the ticks in real time and measures the
rate actually achieved.
"""
