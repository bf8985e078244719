"""The guardian's journey over HTTP, shared by the demo, the end-to-end tests and the benchmark.

Everything goes through the gateway, except what a person or a phone does.
The BankID test server's control API plays the user in the BankID app. The
SMS sink shows what a phone received, and the SMTP catcher shows the mailbox.
"""

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from urllib3.util.retry import Retry

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# The school day of a lesson starts at this local hour; the generated activities teach 45-minute lessons.
FIRST_LESSON_HOUR = 8
LESSON_MINUTES = 45


class JourneyError(Exception):
    """A step of the journey got a response it did not expect."""


@dataclass
class Endpoints:
    """The addresses of the gateway and the development servers of one stack."""

    gateway: str = "http://127.0.0.1:8000"
    bankid: str = "http://127.0.0.1:5055"
    sms_sink: str = "http://127.0.0.1:8046"
    mail: str = "http://127.0.0.1:8025"

    @classmethod
    def from_env(cls, env=None) -> "Endpoints":
        """Read the addresses from the variables that the Procfile's processes read."""
        env = os.environ if env is None else env
        bind = env.get("GATEWAY_BIND", "127.0.0.1:8000")
        return cls(
            gateway=f"http://{bind}",
            bankid=f"http://127.0.0.1:{env.get('BANKID_TEST_SERVER_PORT', 5055)}",
            sms_sink=f"http://127.0.0.1:{env.get('SMS_SINK_PORT', 8046)}",
            mail=f"http://127.0.0.1:{env.get('MAIL_CATCHER_HTTP_PORT', 8025)}",
        )


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Call ``condition`` until it returns a true value, and return it; raise JourneyError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise JourneyError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def check(response: requests.Response, *expected: int) -> dict | list:
    """Return the JSON body of ``response``, or raise JourneyError with the request and the response."""
    if response.status_code not in expected:
        request = response.request
        raise JourneyError(
            f"{request.method} {request.url} returned {response.status_code}, expected {expected}: {response.text[:2000]}"
        )
    return response.json() if response.content else {}


@dataclass
class Session:
    """A logged-in caller of the gateway."""

    client: "Gateway"
    tokens: dict
    label: str = ""

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.http.request(method, self.client.endpoints.gateway + path, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, *expected: int, **kwargs):
        return check(self.request("GET", path, **kwargs), *(expected or (200,)))

    def post(self, path: str, body: dict, *expected: int):
        return check(self.request("POST", path, json=body), *(expected or (200, 201, 202)))

    def put(self, path: str, body: dict, *expected: int):
        return check(self.request("PUT", path, json=body), *(expected or (200, 201)))

    def patch(self, path: str, body: dict, *expected: int):
        return check(self.request("PATCH", path, json=body), *(expected or (200,)))


def http_session() -> requests.Session:
    """Return a requests session that retries idempotent requests once the server closed a kept-alive connection.

    gunicorn closes an idle kept-alive connection after 2 s, and a request sent
    on it at that moment fails with RemoteDisconnected before the server reads it.
    """
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=Retry(total=2, connect=2, read=2, status=0, backoff_factor=0.1))
    session.mount("http://", adapter)
    return session


@dataclass
class Gateway:
    endpoints: Endpoints
    http: requests.Session = field(default_factory=http_session)

    def url(self, path: str) -> str:
        return self.endpoints.gateway + path

    # BankID and password login

    def bankid_login(self, personal_number: str, given_name: str, surname: str, *, apply: bool) -> dict:
        """Log in with BankID as the person, completing the order in the test server; return the tokens."""
        order = check(self.http.post(self.url("/identity/bankid/orders"), timeout=30), 201)
        order_ref = order["order_ref"]
        check(
            self.http.post(
                f"{self.endpoints.bankid}/control/v1/orders/{order_ref}/complete",
                json={"personalNumber": personal_number, "givenName": given_name, "surname": surname},
                timeout=10,
            ),
            200,
        )

        def completed():
            status = check(self.http.get(self.url(f"/identity/bankid/orders/{order_ref}"), timeout=30), 200)
            if status["status"] == "failed":
                raise JourneyError(f"BankID order failed: {status}")
            return status["status"] == "complete"

        wait_for(completed, 30, "the BankID order to complete")
        if apply:
            return check(self.http.post(self.url("/identity/applications"), json={"order_ref": order_ref}, timeout=30), 201)
        return check(self.http.post(self.url(f"/identity/bankid/orders/{order_ref}/session"), timeout=30), 201)

    def password_login(self, username: str, password: str) -> dict:
        return check(
            self.http.post(self.url("/identity/password-login"), json={"username": username, "password": password}, timeout=30),
            201,
        )

    def anonymous(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url(path), timeout=30, **kwargs)

    # What the phone and the mailbox received

    def sms_messages(self, to: str | None = None) -> list[dict]:
        messages = check(self.http.get(f"{self.endpoints.sms_sink}/sink/messages", timeout=10), 200)
        messages = messages["messages"] if isinstance(messages, dict) else messages
        return [message for message in messages if to is None or message.get("to") == to]

    def mails(self, to: str | None = None) -> list[dict]:
        params = {"to": to} if to else {}
        return check(self.http.get(f"{self.endpoints.mail}/messages", params=params, timeout=10), 200)["messages"]


# The municipality


@dataclass
class Person:
    person_id: str
    given_name: str
    family_name: str
    personal_number: str
    protected: bool

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass
class Family:
    """A pupil with two guardians, the class, its unit and its teacher."""

    child: Person
    guardians: list[Person]
    group_id: str
    group_name: str
    unit_id: str
    unit_name: str
    teacher: Person


class Municipality:
    """The generated SS 12000 dump, read back to pick the people of the journey."""

    def __init__(self, dump_dir: str | Path):
        dump_dir = Path(dump_dir)
        self.entities = {
            path.stem: json.loads(path.read_text(encoding="utf-8"))["data"]
            for path in dump_dir.glob("*.json")
            if path.stem != "scenario"
        }
        self.scenario = json.loads((dump_dir / "scenario.json").read_text(encoding="utf-8"))
        self.persons = {record["id"]: record for record in self.entities["persons"]}
        self.units = {record["id"]: record for record in self.entities["organisations"]}
        self.duties = {record["id"]: record for record in self.entities["duties"]}

    def person(self, person_id: str) -> Person:
        record = self.persons[person_id]
        return Person(
            person_id=person_id,
            given_name=record["givenName"],
            family_name=record["familyName"],
            personal_number=record["civicNo"]["value"],
            protected=record.get("securityMarking", "Ingen") != "Ingen",
        )

    def school_types(self) -> set[str]:
        return {school_type for unit in self.units.values() for school_type in unit.get("schoolTypes", [])}

    def _teacher_person_id(self, group_id: str) -> str:
        for activity in self.entities["activities"]:
            if any(ref["id"] == group_id for ref in activity["groups"]):
                return self.duties[activity["teachers"][0]["duty"]["id"]]["person"]["id"]
        raise JourneyError(f"no activity teaches group {group_id}")

    def families(self, school_type: str = "GR") -> list[Family]:
        """Return every pupil of a class of ``school_type`` with two unprotected guardians, in dump order."""
        found = []
        for group in self.entities["groups"]:
            if group["groupType"] != "Klass" or group["schoolType"] != school_type:
                continue
            unit = self.units[group["organisation"]["id"]]
            teacher = self.person(self._teacher_person_id(group["id"]))
            for membership in group["groupMemberships"]:
                child = self.persons[membership["person"]["id"]]
                guardian_ids = [ref["person"]["id"] for ref in child.get("responsibles", [])]
                guardians = [self.person(person_id) for person_id in guardian_ids]
                if len(guardians) != 2 or any(g.protected for g in guardians) or child.get("securityMarking", "Ingen") != "Ingen":
                    continue
                found.append(
                    Family(
                        child=self.person(child["id"]),
                        guardians=guardians,
                        group_id=group["id"],
                        group_name=group["displayName"],
                        unit_id=unit["id"],
                        unit_name=unit["displayName"],
                        teacher=teacher,
                    )
                )
        return found

    def family_at_another_unit(self, family: Family) -> Family:
        return next(other for other in self.families() if other.unit_id != family.unit_id)

    def protected_child(self) -> Person:
        return self.person(self.scenario["protected_child"])


# School days and lessons


def next_school_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def lesson_times(day: date, number: int) -> tuple[str, str]:
    """Return the start and end (ISO 8601 with offset) of the day's lesson ``number``, counting from 0."""
    starts = datetime(day.year, day.month, day.day, FIRST_LESSON_HOUR, 0, tzinfo=STOCKHOLM) + timedelta(hours=number)
    return starts.isoformat(), (starts + timedelta(minutes=LESSON_MINUTES)).isoformat()


def create_lessons(teacher: Session, family: Family, day: date, subjects=("Svenska", "Matematik", "Engelska")) -> list[dict]:
    """Create the class's lessons of ``day`` through the attendance API and return them."""
    lessons = []
    for number, subject in enumerate(subjects):
        starts_at, ends_at = lesson_times(day, number)
        lessons.append(
            teacher.post(
                "/attendance/lessons",
                {
                    "unit_id": family.unit_id,
                    "name": f"{subject} {family.group_name}",
                    "subject": subject,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "group_ids": [family.group_id],
                    "teacher_person_ids": [family.teacher.person_id],
                },
                201,
            )
        )
    return lessons


def verification_token(mail: dict) -> str:
    """Return the token of the e-mail verification link in ``mail``."""
    match = re.search(r"[?&#]token=([A-Za-z0-9_\-\.~%]+)", mail["text"])
    if match is None:
        raise JourneyError(f"no verification link in the mail {mail['subject']!r}: {mail['text'][:500]}")
    return requests.utils.unquote(match.group(1))


# The journey, step by step


@dataclass
class Guardian:
    person: Person
    email: str
    mobile: str
    language: str
    session: Session | None = None


@dataclass
class Journey:
    """The guardian's journey against one stack; ``say`` prints or collects each step's lines."""

    gateway: Gateway
    municipality: Municipality
    say: object = print
    notice_timeout: float = 60.0
    family: Family | None = None
    guardians: list[Guardian] = field(default_factory=list)
    teacher: Session | None = None
    record: dict = field(default_factory=dict)
    # The documents service's database, to show a guardian's read from its audit trail; None skips it.
    audit_database_url: str | None = None

    def choose_family(self) -> Family:
        self.family = self.municipality.families()[0]
        first, second = self.family.guardians
        self.guardians = [
            Guardian(first, "vardnadshavare1@example.com", "+46701000001", "en"),
            Guardian(second, "vardnadshavare2@example.com", "+46701000002", "sv"),
        ]
        return self.family

    def apply_and_set_up_contact(self, guardian: Guardian) -> dict:
        """Apply with BankID, pick the language, verify the e-mail address from the catcher's mail, add a mobile number."""
        person = guardian.person
        tokens = self.gateway.bankid_login(person.personal_number, person.given_name, person.family_name, apply=True)
        guardian.session = Session(self.gateway, tokens, person.name)
        self.say(f"  {person.name} applied with BankID: roles {tokens['roles']}, assurance {tokens['assurance']}")

        # The language first, so that the verification mail is in it too.
        guardian.session.patch("/identity/me/preferences", {"language": guardian.language})
        mails_before = len(self.gateway.mails(guardian.email))
        guardian.session.post("/identity/me/email", {"email": guardian.email}, 202)
        mails = wait_for(
            lambda: self.gateway.mails(guardian.email)[mails_before:], 30, f"the verification mail to {guardian.email}"
        )
        mail = mails[-1]
        self.record.setdefault("verification_mails", {})[guardian.email] = mail
        guardian.session.post("/identity/email-verification", {"token": verification_token(mail)}, 200)
        self.say(f"  verified {guardian.email} with the link from the mail {mail['subject']!r}")

        guardian.session.put("/identity/me/mobile", {"mobile": guardian.mobile})
        contact = guardian.session.patch("/identity/me/preferences", {"sms": True, "email": True})
        self.say(f"  mobile {contact['mobile']}, notices in {contact['language']}, SMS {contact['preferences']['sms']}")
        return contact

    def log_in_teacher(self) -> Session:
        teacher = self.family.teacher
        tokens = self.gateway.bankid_login(teacher.personal_number, teacher.given_name, teacher.family_name, apply=True)
        self.teacher = Session(self.gateway, tokens, teacher.name)
        self.say(f"  teacher {teacher.name} logged in with BankID: roles {tokens['roles']}")
        return self.teacher

    def register_first_lesson(self, lesson: dict) -> dict:
        """Register the lesson with the family's child absent and every other pupil present."""
        attendance = self.teacher.get(f"/attendance/lessons/{lesson['id']}")
        pupil_ids = [pupil["child_person_id"] for pupil in attendance["pupils"]]
        if self.family.child.person_id not in pupil_ids:
            raise JourneyError(f"{self.family.child.name} is not among the pupils of lesson {lesson['id']}: {pupil_ids}")
        marks = [
            {"child_person_id": pupil_id, "status": "absent" if pupil_id == self.family.child.person_id else "present"}
            for pupil_id in pupil_ids
        ]
        return self.teacher.put(f"/attendance/lessons/{lesson['id']}/registration", {"marks": marks})

    def register_absent(self, lesson: dict) -> dict:
        return self.teacher.put(
            f"/attendance/lessons/{lesson['id']}/registration",
            {"marks": [{"child_person_id": self.family.child.person_id, "status": "absent"}]},
        )

    def notices_of(self, guardian: Guardian) -> tuple[list[dict], list[dict]]:
        """Return the absence SMS and e-mails that reached the guardian's phone and mailbox."""
        sms = [message for message in self.gateway.sms_messages(guardian.mobile)]
        mails = [mail for mail in self.gateway.mails(guardian.email) if "token=" not in mail["text"]]
        return sms, mails

    def wait_for_notices(self, count: int = 1) -> dict:
        """Wait until every guardian has ``count`` SMS and e-mails, and return them by e-mail address."""

        def all_arrived():
            return all(
                len(sms) >= count and len(mails) >= count
                for sms, mails in (self.notices_of(guardian) for guardian in self.guardians)
            )

        wait_for(all_arrived, self.notice_timeout, f"{count} SMS and {count} e-mail(s) to each guardian")
        return {guardian.email: self.notices_of(guardian) for guardian in self.guardians}

    def run(self) -> dict:
        say = self.say
        family = self.choose_family()
        say(f"1. The municipality: {len(self.municipality.units)} organisations, {len(self.municipality.persons)} persons, "
            f"school forms {', '.join(sorted(self.municipality.school_types()))}")
        say(f"   {family.child.name} is in class {family.group_name} at {family.unit_name}; "
            f"guardians {family.guardians[0].name} and {family.guardians[1].name}; teacher {family.teacher.name}")

        say("2. Both guardians apply for an account with BankID and set up notices")
        for guardian in self.guardians:
            self.record.setdefault("contacts", {})[guardian.email] = self.apply_and_set_up_contact(guardian)

        say("3. The teacher registers the first lesson of today with the child absent")
        self.log_in_teacher()
        today = datetime.now(STOCKHOLM).date()
        tomorrow = next_school_day(today)
        lessons_today = create_lessons(self.teacher, family, today)
        lessons_tomorrow = create_lessons(self.teacher, family, tomorrow)
        say(f"  created {len(lessons_today)} lessons on {today} and {len(lessons_tomorrow)} on {tomorrow} for {family.group_name}")
        started = time.monotonic()
        registration = self.register_first_lesson(lessons_today[0])
        self.record["registration"] = registration
        say(f"  registered {lessons_today[0]['name']} {lessons_today[0]['local_start_time']}: {family.child.name} absent")

        say("4. The notices arrive")
        notices = self.wait_for_notices()
        self.record["notice_seconds"] = time.monotonic() - started
        self.record["notices"] = notices
        for guardian in self.guardians:
            sms, mails = notices[guardian.email]
            say(f"  {guardian.person.name} ({guardian.language}) received {len(sms)} SMS and {len(mails)} e-mail:")
            for message in sms:
                say(f"    SMS to {message['to']}: {message['message']}")
            for mail in mails:
                say(f"    e-mail to {guardian.email}: {mail['subject']}")
        say(f"  both guardians had their notices {self.record['notice_seconds']:.1f} s after the registration")

        say(f"5. {self.guardians[0].person.name} reports {family.child.given_name} sick for {tomorrow}")
        report = self.guardians[0].session.post(
            "/attendance/absence-reports",
            {"child_person_id": family.child.person_id, "first_date": tomorrow.isoformat(), "reason": "illness"},
            201,
        )
        self.record["absence_report"] = report
        say(f"  report {report['id']}: {report['first_local_date']} to {report['last_local_date']}, reason {report['reason']}")
        first_tomorrow = lessons_tomorrow[0]
        self.teacher.put(
            f"/attendance/lessons/{first_tomorrow['id']}/registration",
            {"marks": [{"child_person_id": family.child.person_id, "status": "absent"}]},
        )
        attendance = self.teacher.get(f"/attendance/lessons/{first_tomorrow['id']}")
        pupil = next(p for p in attendance["pupils"] if p["child_person_id"] == family.child.person_id)
        self.record["tomorrow_pupil"] = pupil
        say(f"  {first_tomorrow['name']} {tomorrow} {first_tomorrow['local_start_time']}: {family.child.given_name} "
            f"{pupil['mark']['status']}, valid absence {pupil['mark']['valid_absence']}, "
            f"covered by report {pupil['reported_absence_id']}")

        # Whether a notice went out is shown by what arrives before the next
        # one: the relay publishes in order, so the absence registered after
        # tomorrow's lesson is noticed after anything tomorrow's lesson caused.
        second_today = lessons_today[1]
        self.register_absent(second_today)
        say(f"  to check that nothing went out, the teacher registers {second_today['name']} "
            f"{second_today['local_start_time']} today without a report")
        self.record["notices_after_report"] = self.wait_for_notices(count=2)
        for guardian in self.guardians:
            sms, mails = self.record["notices_after_report"][guardian.email]
            say(f"  {guardian.person.name} now has {len(sms)} SMS and {len(mails)} e-mails; the newest SMS: {sms[-1]['message']}")

        say(f"6. {self.guardians[0].person.name} reads {family.child.given_name}'s IUP")
        iup = self.teacher.post(
            "/documents",
            {
                "kind": "iup",
                "document_date": today.isoformat(),
                "child_person_id": family.child.person_id,
                "body": {
                    "subjects": [{"subject": "Svenska", "goals": "Läsa kapitelböcker på egen hand", "assessment": "Läser med flyt"}],
                    "summary": "Fin utveckling under terminen.",
                },
            },
            201,
        )
        finalized = self.teacher.post(f"/documents/{iup['id']}/versions/{iup['version']}/finalize", {}, 200)
        say(f"  {family.teacher.name} wrote the IUP and finalized version {finalized.get('version', iup['version'])}")
        read = self.guardians[0].session.get(f"/documents/{iup['id']}")
        self.record["iup"] = read
        say(f"  the guardian read version {read['version']} ({read['state']}): {read['body']['summary']}")
        log = self.guardians[0].session.get(f"/documents/children/{family.child.person_id}/access-log")
        self.record["access_log"] = log
        say("  the access log that the guardian sees (staff accesses, newest first):")
        for entry in log:
            say(f"    {entry['occurred_at'][:19]} {entry['actor_role']} ({entry['duty_role']}) {entry['action']} version {entry['document_version']}")
        if self.audit_database_url:
            self.record["guardian_reads"] = guardian_reads(self.audit_database_url, iup["id"])
            for entry in self.record["guardian_reads"]:
                say(f"  documents' own audit trail: {entry['occurred_at']} guardian {entry['action']} "
                    f"version {entry['document_version']} with {entry['assurance']}: {entry['decision']}")

        self.converse()
        return self.record

    def converse(self) -> None:
        """Have the first guardian write to the teacher about the child, and the teacher reply."""
        family, guardian = self.family, self.guardians[0]
        self.say(f"7. {guardian.person.name} writes to {family.teacher.name} about {family.child.given_name}")

        contacts = guardian.session.get(f"/messaging/children/{family.child.person_id}/conversation-contacts")
        staff = [member for unit in contacts["units"] for member in unit["staff"]]
        self.say(f"  the guardian may write to {len(staff)} staff of {family.unit_name}")

        mails_before = len(self.gateway.mails(guardian.email))
        started = guardian.session.post(
            "/messaging/conversations",
            {
                "child_person_id": family.child.person_id,
                "unit_id": family.unit_id,
                "subject": "Idrottskläder",
                "body": "Hej! Behöver hen ha med sig inneskor på fredag?",
                "recipient_person_ids": [family.teacher.person_id],
            },
            201,
        )

        inbox = self.teacher.get("/messaging/conversations")
        self.say(f"  the teacher has {inbox['unread_messages']} unread message in {inbox['unread_conversations']} conversation")
        self.teacher.post(
            f"/messaging/conversations/{started['conversation_id']}/messages", {"body": "Ja, inneskor och handduk."}, 201
        )

        mails = wait_for(
            lambda: self.gateway.mails(guardian.email)[mails_before:], 30, f"the message e-mail to {guardian.email}"
        )
        conversation = guardian.session.get(f"/messaging/conversations/{started['conversation_id']}")
        self.record["conversation"] = conversation
        self.record["conversation_mails"] = mails
        self.say(f"  {guardian.person.name} got the e-mail {mails[-1]['subject']!r} and reads:")
        for message in conversation["messages"]:
            self.say(f"    {message['author']['name']}: {message['body']}")


def guardian_reads(database_url: str, document_id: str) -> list[dict]:
    """Return the guardians' reads of a document from the documents service's access log table.

    NOTE: no endpoint shows a guardian's own reads (the guardian's access log
    lists staff accesses only), so this reads the service's database directly.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT occurred_at, action, document_version, assurance, decision FROM access_log "
                    "WHERE document_id = :document_id AND actor_role = 'guardian' ORDER BY seq"
                ),
                {"document_id": document_id},
            ).mappings()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def wait_for_outboxes_drained(gateway: Gateway, timeout: float = 300.0) -> dict:
    """Wait until no service has an event waiting in its outbox, and return /readyz.

    NOTE: after an import of the generated test municipality this takes one
    to two minutes on a 2-core machine, most of it spent relaying the events
    that no service subscribes to (about 25 a second).
    """
    last = {}

    def drained():
        try:
            response = gateway.anonymous("GET", "/readyz")
        except requests.ConnectionError as exc:
            last["answer"] = repr(exc)
            return None
        if response.status_code != 200:
            last["answer"] = f"{response.status_code} {response.text[:300]}"
            return None
        readiness = response.json()
        pending = {name: report["outbox"]["pending"] for name, report in readiness["services"].items()}
        last["answer"] = f"pending events: {pending}"
        return readiness if not any(pending.values()) else None

    try:
        return wait_for(drained, timeout, "every service's outbox to be sent", interval=1.0)
    except JourneyError as exc:
        raise JourneyError(f"{exc}; last /readyz: {last.get('answer')}") from None
