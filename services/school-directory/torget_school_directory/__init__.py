"""Torget school directory service: administrations, school units, groups, persons, placements, guardianships, duties and the SS 12000 import."""
