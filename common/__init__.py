"""The ground floor: typed settings and the event types every other package speaks."""
