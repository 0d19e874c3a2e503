"""Sources that misbehave on purpose: fake servers on 127.0.0.1 that accept and then stall."""
