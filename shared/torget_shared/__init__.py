"""Common library of the Torget services.

Every service imports its configuration, logging, database provider, event
contracts, outbox, inbox and reliable event handler from here, so that the
services differ only in their domain logic.
"""
