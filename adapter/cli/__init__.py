"""The ``seatsync`` command line (click): ``main`` is the entry point, ``base`` the group and shared helpers."""
