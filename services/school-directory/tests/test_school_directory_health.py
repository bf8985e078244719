from torget_school_directory.service import SchoolDirectoryService


def test_health_reports_database_and_outbox(start_service):
    service = start_service(SchoolDirectoryService)

    report = service.health()

    assert report["service"] == "school_directory"
    assert report["status"] == "ok"
    assert report["database"] == "ok"
    assert report["outbox"] == {"pending": 0, "sent": 0, "unrouted": 0, "failed": 0}
