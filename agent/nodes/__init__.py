"""One module per graph node; each exposes one function that returns a partial state update."""
