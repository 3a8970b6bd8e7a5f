"""Running the probes: the target, its modules, the C helper, probe processes, the cache."""
