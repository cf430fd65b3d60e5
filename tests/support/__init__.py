"""The test house's one harness: real processes, real sockets, real supervisord.

Plain modules (never a conftest) that tests and bench/ import:
`procs` (spawn, stop, wait_until, free ports, short temp dirs), `bus` (a hub and services),
`system` (the whole system under supervisord, and `FieldSystem` that can lose power),
`web` (the gateway on top of it: accounts, real HTTP requests, the in-process app).
"""
