# Torget: one command per task. Everything runs from the virtual environment in .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared services/identity services/school-directory services/messaging \
	services/attendance services/documents gateway tools

# The servers the tests use; CI and this machine run them on 127.0.0.1.
export AMQP_URI ?= amqp://guest:guest@127.0.0.1:5672/
export RABBIT_API_URI ?= http://guest:guest@127.0.0.1:15672
export TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

# The service classes whose event queues torget-declare-queues declares.
SERVICE_CLASSES := torget_identity.service:IdentityService \
	torget_school_directory.service:SchoolDirectoryService \
	torget_messaging.service:MessagingService \
	torget_attendance.service:AttendanceService \
	torget_documents.service:DocumentsService

# The local stack keeps its SQLite files and the process id of `make run` here.
VAR_DIR := $(or $(TORGET_VAR_DIR),var)
RUN_PID := $(VAR_DIR)/run.pid
STOP_TIMEOUT := 30

.PHONY: setup test run stop declare migrate lock clean

setup: $(BIN)/.installed
	@# Compiled on every run, so an edited .po file never leaves a stale catalog.
	$(BIN)/pybabel compile --use-fuzzy -d gateway/torget_gateway/translations

$(BIN)/.installed: requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps $(addprefix -e ,$(PACKAGES))
	touch $@

# Each suite runs in a pytest process of its own: the service folders have
# test helper modules of the same name, which one process cannot import twice.
SUITES := shared/tests services/identity/tests services/school-directory/tests \
	services/messaging/tests services/attendance/tests services/documents/tests \
	gateway/tests tests

# Runs every suite even after a failure, then fails if any suite failed
# (pytest's exit code 5, no tests collected, counts as a failure).
test: setup
	@failed=""; \
	for suite in $(SUITES); do \
		echo "=== $$suite"; \
		$(BIN)/pytest $(PYTEST_ARGS) $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED suites:$$failed"; exit 1; fi; \
	echo "all suites passed"

migrate: setup
	mkdir -p $(VAR_DIR)
	TORGET_VAR_DIR=$(VAR_DIR) $(BIN)/torget-migrate

declare: setup
	$(BIN)/torget-declare-queues $(SERVICE_CLASSES)

# Start the stack of the Procfile, or only the PROCESSES named (for example
# PROCESSES="identity gateway"). The shell writes its own process id and then
# becomes honcho (exec), so make forwards SIGTERM straight to honcho, and
# `make stop` finds it. honcho 2.0 starts each process in a session of its own
# and stops them all on SIGINT or SIGTERM, with SIGKILL 5 seconds after the
# first one has stopped.
PROCESSES ?=
# Without DOCUMENTS_KEYS the documents service has no key to encrypt with, so
# a local trial gets a development key, made once and kept in $(VAR_DIR).
run: migrate declare
	@test -n "$$DOCUMENTS_KEYS" || test -s $(VAR_DIR)/documents-keys || \
		{ umask 077 && $(BIN)/torget-documents-new-key development > $(VAR_DIR)/documents-keys && \
		echo "DOCUMENTS_KEYS is not set: made a development key in $(VAR_DIR)/documents-keys"; }
	@echo $$$$ > $(RUN_PID); \
	DOCUMENTS_KEYS="$${DOCUMENTS_KEYS:-$$(cat $(VAR_DIR)/documents-keys)}" \
	PATH="$(abspath $(BIN)):$$PATH" TORGET_VAR_DIR=$(VAR_DIR) PYTHONUNBUFFERED=1 \
	exec $(BIN)/honcho start -f Procfile $(PROCESSES)

# Stop the stack that `make run` started from another terminal, and wait until
# honcho has stopped every process.
stop:
	@pid=$$(cat $(RUN_PID) 2>/dev/null) || { echo "no stack to stop: $(RUN_PID) not found"; exit 0; }; \
	if ! grep -qs honcho /proc/$$pid/cmdline; then \
		echo "no stack to stop: process $$pid is not running honcho"; rm -f $(RUN_PID); exit 0; \
	fi; \
	kill -TERM $$pid; \
	for i in $$(seq $$(( $(STOP_TIMEOUT) * 5 ))); do \
		kill -0 $$pid 2>/dev/null || { rm -f $(RUN_PID); echo "stack stopped"; exit 0; }; \
		sleep 0.2; \
	done; \
	echo "honcho (process $$pid) still runs $(STOP_TIMEOUT) s after SIGTERM" >&2; exit 1

lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --no-emit-index-url \
		--no-emit-find-links -o requirements.lock requirements.in

clean:
	rm -rf $(VENV) var

# Lesson registrations per second through a gunicorn gateway, against the
# RabbitMQ and PostgreSQL of the tests; appends a section to docs/benchmarks.md.
.PHONY: bench-attendance
bench-attendance: setup
	$(BIN)/python services/attendance/bench/bench_registrations.py

# Import the large generated municipality into a fresh PostgreSQL database and
# write records/s to docs/benchmarks.md.
.PHONY: bench-directory
bench-directory: setup
	$(BIN)/python -m torget_school_directory.bench --output docs/benchmarks.md

# Time from publishing absence_registered to the SMS sink receiving the SMS
# (p50, p99) and notices per second, against the RabbitMQ and PostgreSQL of
# the tests; appends a section to docs/benchmarks.md.
.PHONY: bench-messaging
bench-messaging: setup
	$(BIN)/python -m torget_messaging.bench --output docs/benchmarks.md

# The guardian's journey end to end, on a local stack of its own that it
# starts and stops: BankID application, verified e-mail, absence notices by
# SMS and e-mail, an absence report and an IUP read. Needs what `make run` needs.
.PHONY: demo
demo: setup
	$(BIN)/torget-demo

# The whole stack through the gateway in one run: absence reports/s, marks/s,
# registration-to-SMS latency, and the machine's ceiling (trivial Flask app,
# bare nameko RPC). Starts and stops a stack of its own; needs wrk
# (apt-get install wrk), and py-spy to profile a missed target. Writes its
# section of docs/benchmarks.md.
.PHONY: bench
bench: setup
	$(BIN)/torget-bench
