"""Torget messaging service: absence notices by SMS and e-mail, announcements, conversations and feedback."""
