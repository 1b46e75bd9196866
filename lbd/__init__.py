"""lbd: a pure-Python load-balancer speaker for bare-metal Kubernetes and plain Linux hosts."""

__version__ = "0.1.0"
