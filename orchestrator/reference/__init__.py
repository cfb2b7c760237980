"""Reference supplier, CMMS and MES servers (FastAPI on loopback) for the demo and the tests.

Entry point: ``orchestrator.reference.serve.start_reference_servers``.
"""
