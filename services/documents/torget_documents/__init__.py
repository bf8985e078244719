"""Torget documents service: logbook, development-talk records and IUPs, with their access audit trail."""
