"""Torget HTTP gateway."""
