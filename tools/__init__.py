"""Plain, typed functions the agent's nodes and the sandboxed perturbation code call."""
