"""Integration events: ``published`` maps domain facts to contract payloads, ``consumed`` handles others'."""
