"""The lab's links seen from the host side: shaping and cuts, byte counters, packet capture."""
