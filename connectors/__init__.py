"""Kafka sources and sinks, Avro and registry serde, clickstream and Debezium decoding, dead letters."""
