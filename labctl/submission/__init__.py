"""`labctl import`: a student's keepalived.conf files, IPVS rules and Vagrantfile, read as text
(never run), mapped to a Lab, with findings. Pure apart from reading the submission's files."""
