"""The VirtualBox provider (Vagrant's default): prerequisites and the plug, through Vagrant only."""

from labctl.lab.providers.virtualbox.provider import VirtualBox

__all__ = ["VirtualBox"]
