from torget_messaging.service import MessagingService


def test_health_reports_database_and_outbox(start_service):
    service = start_service(MessagingService)

    report = service.health()

    assert report["service"] == "messaging"
    assert report["status"] == "ok"
    assert report["database"] == "ok"
    assert report["outbox"] == {"pending": 0, "sent": 0, "unrouted": 0, "failed": 0}
