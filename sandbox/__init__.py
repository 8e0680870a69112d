"""A local stand-in for EscaShop's monitoring stack: Loki, Grafana, Promtail and the backend.

The sandbox is the other side of the wire. It never imports opsverify, so the
suite and its stand-in cannot share a wrong assumption about the real APIs.
"""
