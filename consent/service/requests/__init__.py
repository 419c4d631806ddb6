"""Data subject requests: receiving, verifying and moving them through their legal deadlines.

`handling.RequestHandling` holds the use cases that change a request, `queue` the compliance
team's reads (the list, one request, its deliveries) and `reports` the CCPA §7101 record.
"""
