"""Sans-I/O ARP and NDP responders and the liveness layer between speakers."""
