from torget_messaging.testing import directory_data, sms_sink, smtp_server, start_messaging  # noqa: F401  (fixtures)
