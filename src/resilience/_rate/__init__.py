"""Rate limiters: GCRA in memory, or shared by a fleet through a store."""
