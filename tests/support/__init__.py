"""Worlds, scenarios and checks the tests share: the sandbox fixtures, provisioning, scripted and simulated products."""
