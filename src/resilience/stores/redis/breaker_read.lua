-- No ARGV of its own: the breaker's shared state, as the prelude reads it.
return reply()
