"""The Flink jobs: composition roots, operators and the execution environment."""
