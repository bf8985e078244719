"""gunicorn settings of the gateway.

Run from the repository root:
    gunicorn -c gateway/gunicorn.conf.py 'torget_gateway.app:create_app()'

The workers are gthread workers: plain threads, nothing is monkey-patched.
nameko's standalone RPC clients block their own thread only.
"""

import os
import warnings

from torget_shared.config import Settings
from torget_shared.logs import logging_config

# nameko imports eventlet, which warns on import that it is deprecated. The
# gateway never runs eventlet's hub, so the warning does not apply to it.
warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated")

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
threads = int(os.environ.get("GATEWAY_THREADS", "8"))

# gunicorn restarts a worker that is silent this many seconds. RPC calls time
# out long before (RPC_TIMEOUT, 5 s by default).
timeout = int(os.environ.get("GATEWAY_WORKER_TIMEOUT", "30"))
graceful_timeout = 20

# gunicorn's control socket (gunicornc) is not used by the gateway.
control_socket_disable = True

_log_level = Settings.from_env().log_level
logconfig_dict = logging_config("gateway", _log_level)
logconfig_dict["loggers"].update(
    {
        "gunicorn.error": {"level": _log_level, "handlers": ["stderr"], "propagate": False},
        # gunicorn writes access lines whenever logconfig_dict is set. They
        # carry the query string, which may hold tokens or personal identity
        # numbers, so they are dropped; the app logs each request instead.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    }
)
