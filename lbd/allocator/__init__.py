"""Address allocation for LoadBalancer services with MetalLB's semantics, as a pure function."""

from lbd.allocator.allocator import allocate_requests
from lbd.allocator.inputs import allocate, annotation, is_ours, service_request
from lbd.allocator.requests import (
    ALLOCATED_FROM_POOL,
    AllocationResult,
    Assignment,
    Event,
    EventType,
    HeldAddresses,
    Reason,
    State,
)

__all__ = [
    "ALLOCATED_FROM_POOL",
    "AllocationResult",
    "Assignment",
    "Event",
    "EventType",
    "HeldAddresses",
    "Reason",
    "State",
    "allocate",
    "allocate_requests",
    "annotation",
    "is_ours",
    "service_request",
]
