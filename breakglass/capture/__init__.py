"""Pure decisions about incoming requests: is this a human's manual change, and what changed?

Nothing in this package does I/O (an import-linter contract enforces it): each function takes
a decoded AdmissionReview request or audit Event plus settings, and returns a value.  That keeps
the webhook handlers thin and lets the tests feed recorded payloads straight in.

- ``wire``: the JSON shapes the API server sends, as ``TypedDict``s;
- ``redact``: Secret values and secret-looking keys become key names plus salted hashes;
- ``admission``: AdmissionReview request → ``Capture`` or a ``Skip`` with its reason;
- ``audit``: audit Event → confirmation of a capture, an audit-only capture, or a ``Skip``.
"""
