# eventlet is patched in by torget_shared.testing.green, which pytest.ini
# loads with -p before any other plugin.
pytest_plugins = ["torget_shared.testing.plugin"]
