"""The lab's place on this host: its network namespace and private libvirtd (the sandbox), its
state folder, lock and log, and the host programs labctl runs for it. Imports no other room."""
