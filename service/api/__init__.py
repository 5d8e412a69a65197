"""The REST API (FastAPI): app factory, routes, schemas, problem details."""
