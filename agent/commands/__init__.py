"""One module per CLI sub-command: each has add_parser(subparsers) and run(args) -> int."""
