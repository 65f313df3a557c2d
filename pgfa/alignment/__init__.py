"""Test-time prototype-guided feature alignment (SPEC section 7)."""
