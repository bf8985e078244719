"""The verified caller of a request, as the gateway passes it to the services.

The gateway verifies the bearer token and puts the caller into the nameko
context data under ``caller``; nameko forwards it on every onward RPC call
and event. Services read it with the :class:`CallerProvider` dependency and
check it against each object they return or change.
"""

from dataclasses import asdict, dataclass, field

from nameko.extensions import DependencyProvider

CALLER_KEY = "caller"

ANONYMOUS = "anonymous"
ACCOUNT = "account"
SERVICE = "service"

ASSURANCE_BANKID = "bankid"
ASSURANCE_PASSWORD = "password"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an anonymous client, a logged-in account, or another service."""

    kind: str = ANONYMOUS
    account_id: str | None = None
    person_id: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)
    assurance: str | None = None
    service: str | None = None
    language: str = "sv"

    @property
    def is_anonymous(self) -> bool:
        return self.kind == ANONYMOUS

    @property
    def has_bankid(self) -> bool:
        return self.kind == ACCOUNT and self.assurance == ASSURANCE_BANKID

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def to_context(self) -> dict:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_context(cls, data: dict | None) -> "Caller":
        if not data:
            return cls()
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        known["roles"] = tuple(known.get("roles", ()))
        return cls(**known)

    @classmethod
    def for_service(cls, service_name: str) -> "Caller":
        return cls(kind=SERVICE, service=service_name)


class CallerProvider(DependencyProvider):
    """Injects the :class:`Caller` of the current worker.

    A worker started by an RPC call without a caller in its context (a
    command-line tool, a test) is anonymous.
    """

    def get_dependency(self, worker_ctx) -> Caller:
        return Caller.from_context(worker_ctx.data.get(CALLER_KEY))


CALLING_SERVICE_KEY = "calling_service"


class CallingService(DependencyProvider):
    """Injects the name of the component that made the current call.

    Each worker stamps its own service name into the context data it
    forwards, so a service receiving an RPC call sees the immediate caller
    (``gateway`` for a client request, a service name for an internal call)
    and can keep internal RPC methods away from client requests.
    """

    def get_dependency(self, worker_ctx) -> str | None:
        incoming = worker_ctx.data.get(CALLING_SERVICE_KEY)
        worker_ctx.data[CALLING_SERVICE_KEY] = self.container.service_name
        return incoming
