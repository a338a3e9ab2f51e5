"""``python -m routing.mail``: send appeal e-mails and receive replies (see ``routing.mail.service``)."""

from routing.mail.service import main

main()
