"""The default billing policies and plan catalogue (the TOML files here).

Installed as the ``seatsync_mappings`` package (setup.py), so ``adapter.config.default_mappings()`` finds them
without the source tree; ``SEATSYNC_MAPPINGS`` points elsewhere.
"""
