"""Sans-I/O BGP-4 engine: wire codec, FSM and session state."""
