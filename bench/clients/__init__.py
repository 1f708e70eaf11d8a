"""One script per client; each runs in its own interpreter and prints one JSON report line.

Only the standard library and the client's own package are imported here, so the scripts run
in the peers' virtual environments (``bench/envs/``) as ``python -m bench.clients.NAME``.
"""
