"""Sans-I/O BFD engine (RFC 5880/5881/5883)."""
