"""Thin asyncio adapters that do the I/O for the sans-I/O engines in bgp/, bfd/ and l2/."""
