"""Real-part test harness: throwaway PostgreSQL, PKI and HTTPS servers, Redis, SMTP, webhooks, ansible runs.

Used by the pytest fixtures in tests/conftest.py, by `make demo` (scripts/demo_env.py) and by `make bench`.
"""
