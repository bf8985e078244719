"""Torget attendance service: lessons, attendance marks, guardian absence reports and lesson plans."""
