"""The local control socket: the daemon serves named status views, `lbd status` reads them."""

from lbd.control.client import ControlError, query
from lbd.control.server import ControlServer, View

__all__ = ["ControlError", "ControlServer", "View", "query"]
