"""The smallest Flask app and nameko service, to measure what this machine can do at best.

    gunicorn -k gthread 'torget_tools.ceiling:app'     GET /ping returns "ok"
    nameko run torget_tools.ceiling:PingService        RPC ping() returns "pong"
"""

from flask import Flask
from nameko.rpc import rpc

app = Flask(__name__)


@app.get("/ping")
def ping():
    return "ok"


class PingService:
    name = "bench_ping"

    @rpc
    def ping(self) -> str:
        return "pong"
