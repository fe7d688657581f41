"""TOMP-API: shared-car bookings of a transport operator as charging needs."""
