"""Circuit breakers: the state machine, its window, the registry, shared state."""
