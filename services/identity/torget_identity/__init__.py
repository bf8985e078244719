"""Torget identity service: accounts, BankID login, sessions and tokens, contact details."""
