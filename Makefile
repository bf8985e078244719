# Torget: one command per task. Everything runs from the virtual environment in .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared services/identity services/school-directory services/messaging \
	services/attendance services/documents gateway

# The servers the tests use; CI and this machine run them on 127.0.0.1.
export AMQP_URI ?= amqp://guest:guest@127.0.0.1:5672/
export RABBIT_API_URI ?= http://guest:guest@127.0.0.1:15672
export TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: setup test run declare migrate lock clean

setup: $(BIN)/.installed

$(BIN)/.installed: requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps $(addprefix -e ,$(PACKAGES))
	test ! -d gateway/torget_gateway/translations/sv || $(BIN)/pybabel compile --use-fuzzy -d gateway/torget_gateway/translations
	touch $@

test: setup
	$(BIN)/pytest

lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --no-emit-index-url \
		--no-emit-find-links -o requirements.lock requirements.in

clean:
	rm -rf $(VENV) var
