import pytest

from torget_shared.testing.probe import ConsumerService, ProducerService, attempts, create_test_tables


@pytest.fixture
def probe(start_service, service_database):
    """Start the consumer, then the producer; return both proxies."""

    class Probe:
        pass

    probe = Probe()

    def start(consumer_config=None, producer_config=None, before_producer=None, start_producer=True):
        probe.consumer_url = service_database("messaging")
        create_test_tables(probe.consumer_url)
        probe.producer_url = service_database("attendance")
        create_test_tables(probe.producer_url)

        probe.consumer = start_service(ConsumerService, database_url=probe.consumer_url, **(consumer_config or {}))
        if before_producer is not None:
            before_producer(probe.producer_url)
        if start_producer:
            probe.producer = start_service(ProducerService, database_url=probe.producer_url, **(producer_config or {}))
        return probe

    attempts.clear()
    return start
