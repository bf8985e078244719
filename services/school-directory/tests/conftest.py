"""Fixtures of the school directory tests: a generated municipality and a migrated database."""

import copy
from datetime import date

import pytest

from torget_shared.db import make_engine

from torget_school_directory.generator import generate, write_dump
from torget_school_directory.importer import Importer
from torget_school_directory.pin import PinProtector
from torget_school_directory.sources import DumpSource

SEED = 12000
# A date in the generated autumn term: every current placement has started.
TODAY = date(2026, 12, 4)


@pytest.fixture(scope="session")
def municipality():
    """The generated test-size municipality; copy it before changing it."""
    return generate(SEED, "test")


@pytest.fixture
def dataset(municipality):
    return copy.deepcopy(municipality)


@pytest.fixture(scope="session")
def dump_folder(municipality, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ss12000_dump")
    write_dump(municipality, str(folder))
    return folder


@pytest.fixture(scope="session")
def protector():
    return PinProtector(b"k" * 32, b"h" * 32)


@pytest.fixture
def engine(service_database):
    engine = make_engine(service_database("school_directory"))
    yield engine
    engine.dispose()


@pytest.fixture
def importer(engine, protector):
    return Importer(engine, protector, today=TODAY)


@pytest.fixture
def imported(importer, dump_folder):
    """A database with the generated municipality imported from its dump."""
    report = importer.run(DumpSource(str(dump_folder)))
    assert report.status == "complete", report.error
    return report


@pytest.fixture(scope="module")
def imported_engine(database_factory, dump_folder, protector):
    """An engine on a database with the generated municipality, shared by a module's read-only tests."""
    url = database_factory.create("school_directory")
    engine = make_engine(url)
    report = Importer(engine, protector, today=TODAY).run(DumpSource(str(dump_folder)))
    assert report.status == "complete", report.error
    yield engine
    engine.dispose()
    database_factory.drop(url)
