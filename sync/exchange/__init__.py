"""The xcircle exchange: an ASGI app storing per-circle logs of opaque op envelopes.

Entry points (imported lazily so `import sync.exchange` stays cheap):
`sync.exchange.app.create_app`, `sync.exchange.admin` helpers, `sync.exchange.cli.exchange`.
"""
