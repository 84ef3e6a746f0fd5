"""Evidence from packets: the lab segment recorded from the host side (tcpdump inside the lab's
namespace, one clock, nothing running in the VMs), decoded with scapy into plain records, and
turned into the hand-over's phases, duplicate advertisers and the host's fidelity."""
