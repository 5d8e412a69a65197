"""Shared by the tests and bench/: board builders (Miro and Mural JSON exactly as the APIs return
it), ready-made dumps, and stand-in Miro and Mural servers that speak the APIs over a socket.

Installed with the project (``pip install -e .``) so that both import it as ``testkit.*``
without touching ``sys.path``. Not used by the service itself.
"""
