"""What pyproject.toml cannot say: two folders shipped under other names.

The sandbox (``tests/sandbox``, billing-faithful Stripe and Chargebee for ``make run``) installs as
``seatsync_sandbox`` and the default policies (``mappings/``) as ``seatsync_mappings``, so an installed
seatsync serves its embedded world without the source tree. pyproject's ``packages`` would need every
subpackage listed by hand; here they are found, so a new one cannot be left out of the wheel.
"""

from setuptools import find_packages, setup

SANDBOX = [p.replace("tests.sandbox", "seatsync_sandbox", 1)
           for p in find_packages(include=["tests.sandbox", "tests.sandbox.*"], exclude=["tests.sandbox.tests*"])]

setup(
    packages=find_packages(include=["adapter", "adapter.*", "webhooks", "webhooks.*"]) + SANDBOX
    + ["seatsync_mappings"],
    package_dir={"seatsync_sandbox": "tests/sandbox", "seatsync_mappings": "mappings"},
    package_data={
        # PEP 561: the packages carry their type hints.
        "adapter": ["py.typed"],
        "webhooks": ["py.typed", "openapi.json", "templates/*/*.html"],
        "seatsync_mappings": ["*.toml"],
        "seatsync_sandbox": ["*.md"],
    },
)
