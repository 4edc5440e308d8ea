"""The `cadenza` command line: placing and inspecting orders, running the stack, the demo."""
