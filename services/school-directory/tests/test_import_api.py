"""The SS 12000 import from a live API: paging, incremental sync, resume and source errors."""

import pytest

from torget_school_directory.sources import ApiSource
from torget_school_directory.testing import Ss12000Server

LATER = "2026-11-01T08:00:00+00:00"


def _source(server: Ss12000Server, token: str = "test-token") -> ApiSource:
    return ApiSource(server.url, token, page_size=500, retry_delays=(0.01, 0.01))


@pytest.fixture
def server(dataset):
    with Ss12000Server(dataset.entities) as server:
        yield server


def _person_pages(server) -> list[dict]:
    return [args for path, args in server.requests if path == "/persons"]


def test_api_import_reads_every_page(server, dataset, importer):
    report = importer.run(_source(server))

    assert report.status == "complete", report.error
    assert report.entities["persons"].created == len(dataset.entities["persons"])
    assert len(_person_pages(server)) == -(-len(dataset.entities["persons"]) // 500)
    assert report.rejections == []


def test_api_rerun_asks_only_for_modified_records(server, dataset, importer):
    importer.run(_source(server))
    server.requests.clear()
    person = dataset.entities["persons"][10]
    person["familyName"] = "Nyström"
    person["meta"]["modified"] = LATER

    report = importer.run(_source(server))

    assert report.status == "complete"
    assert report.records == 1
    assert report.entities["persons"].changed == 1
    assert report.changes == 1
    assert _person_pages(server)[0]["meta.modified.after"] == "2026-08-01T06:00:00+00:00"


def test_api_deleted_entities_are_removed(server, dataset, importer):
    importer.run(_source(server))
    server.deleted = {"duties": [dataset.entities["duties"][0]["id"]]}

    report = importer.run(_source(server))

    assert report.entities["duties"].removed == 1
    assert report.changes == 1


def test_failed_page_resumes_from_its_token(server, dataset, importer):
    # The third request to /persons and both retries fail.
    for nth in (3, 4, 5):
        server.fail("/persons", nth, 500)

    interrupted = importer.run(_source(server))

    assert interrupted.status == "interrupted"
    assert "HTTP 500" in interrupted.error
    assert interrupted.entities["persons"].created == 1000

    server.requests.clear()
    resumed = importer.run(_source(server))

    assert resumed.status == "complete", resumed.error
    assert resumed.entities["persons"].created == len(dataset.entities["persons"]) - 1000
    first = _person_pages(server)[0]
    assert first["pageToken"].endswith(":1000")
    assert "meta.modified.after" not in first


def test_server_error_is_retried(server, importer):
    server.fail("/organisations", 1, 503)

    report = importer.run(_source(server))

    assert report.status == "complete", report.error


def test_unauthorized_source_stops_import(server, importer):
    report = importer.run(_source(server, token="wrong"))

    assert report.status == "interrupted"
    assert "HTTP 401" in report.error
    assert report.records == 0
    assert len(server.requests) == 1


def test_source_error_after_retries_is_reported(server, importer):
    for nth in (1, 2, 3):
        server.fail("/organisations", nth, 500)

    report = importer.run(_source(server))

    assert report.status == "interrupted"
    assert report.error.endswith("returned HTTP 500 after 3 tries")
