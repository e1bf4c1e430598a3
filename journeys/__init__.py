"""The journey engine (pure Python, no Flink) and the journey definitions it runs."""
