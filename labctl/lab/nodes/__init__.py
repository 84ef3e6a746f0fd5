"""The lab's nodes over SSH: sessions, provisioning, node snapshots and the checks `labctl up`
judges them by, clocks after a wake, keepalived's own reading of a config."""
