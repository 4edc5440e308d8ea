"""Cross-cutting pieces shared by the worker, the CLI and the tests.

`settings` (ports, tokens, state folder, task queue), `connection` (how to reach Temporal), `binaries` (where the
`temporal` CLI and the test server come from) and `stack` (running the embedded stack as child processes).
"""
