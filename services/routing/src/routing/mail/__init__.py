"""The e-mail channel, for authorities that do not use the cabinet.

``compose``: the formal appeal e-mail (59-FZ); ``reply_address``: per-appeal plus-addressed reply addresses with an
unguessable token; ``sender``: SMTP with retries (aiosmtplib); ``inbound``: parsing what comes back (the answer's text
without the quoted history, attachments, bounces and auto-replies); ``receiver``: the inbound SMTP server (aiosmtpd).
The pieces here do no database work: the use cases in ``routing.usecases.email_channel`` tie them to appeals.
"""
