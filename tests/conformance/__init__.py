"""The conformance suite: the same checks against every server kind (see conftest.py)."""
