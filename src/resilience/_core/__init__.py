"""The engine's core: clock, errors, options, events, the strategy protocol and the drivers."""
