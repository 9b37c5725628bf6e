"""The HTTP face of breakglass: aiohttp handlers that only translate between HTTP and the pure
capture decisions, plus TLS with certificate reload.

``app.build`` assembles the application; ``admission``, ``audit`` and ``health`` hold one
handler family each; ``tls`` makes and refreshes the ``SSLContext``; ``server`` runs it.
"""
