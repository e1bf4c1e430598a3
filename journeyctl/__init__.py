"""The `journeyctl` command line and the typed settings every command shares."""
