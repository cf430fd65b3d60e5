"""The test house's one harness: real processes, real sockets, real supervisord.

Plain modules (never a conftest, never a test module) that tests and bench/ import:
`procs` (spawn, stop, wait_until, free ports, short temp dirs; every process group it starts is
stopped at the end of the run), `bus` (a hub and services), `system` (the whole system under
supervisord, `FieldSystem` that can lose power, file checks), `web` (the gateway on top of it:
accounts, real HTTP requests, the in-process app), `sse` (an EventSource client), `browser`
(chromium through Playwright), `mqtt` (a real mosquitto). Fixtures stay in the conftests.
"""
