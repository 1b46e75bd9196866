"""Address allocation for LoadBalancer services with MetalLB's semantics."""
