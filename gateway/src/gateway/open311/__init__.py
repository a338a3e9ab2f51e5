"""Open311 GeoReport v2 over the problems API (and routing's territories for ``jurisdiction_id``)."""
