"""Patch the standard library for eventlet before pytest loads any other plugin.

The nameko services under test run on eventlet. Plugins found through entry
points (schemathesis among them) import ssl and socket while pytest starts;
patching after that breaks ssl (SSLContext recurses without end). pytest.ini
loads this module with ``-p``, which runs before entry-point plugins.
"""

import eventlet

eventlet.monkey_patch()
