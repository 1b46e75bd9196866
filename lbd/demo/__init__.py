"""`lbd demo`: a namespace lab with a real FRR router and a Linux client, and lbd announcing to both."""

from lbd.demo.scenario import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
