"""labctl: a keepalived + IPVS direct-routing lab in one command."""

__version__ = "0.1.0"
