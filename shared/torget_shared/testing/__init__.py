"""Test support for the Torget services: real RabbitMQ and PostgreSQL fixtures."""
