"""The lab's VMs through Vagrant: the box, the rendered Vagrantfile and node files, the login
key, and saving or restoring VMs' memory (virsh, per node at once)."""
