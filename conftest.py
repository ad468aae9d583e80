"""Root conftest: fixture modules shared by the test layers."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.rig",
    "tests.fixtures.freeswitch",
    "tests.fixtures.pbx",
    "tests.fixtures.browser",
]
