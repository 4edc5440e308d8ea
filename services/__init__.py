"""Simulated downstream systems for Cadenza: an ERP, a payment provider and an inventory service for the order saga,
and an airline, a hotel and a car rental for the travel example, each with conventions of its own.

Each service is a small FastAPI application with its own SQLite file, bearer-token
auth, Stripe-style idempotency keys and switchable fault injection, so the saga
can be exercised against APIs that fail the way real ones do. Run one with
``python -m services {erp|payment|inventory|flight|hotel|car} --port N --db PATH``; the shared
machinery lives in :mod:`services.common`.
"""
