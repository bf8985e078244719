from torget_identity.service import IdentityService


def test_health_reports_database_and_outbox(start_service):
    service = start_service(IdentityService)

    report = service.health()

    assert report["service"] == "identity"
    assert report["status"] == "ok"
    assert report["database"] == "ok"
    assert report["outbox"] == {"pending": 0, "sent": 0, "unrouted": 0, "failed": 0}
