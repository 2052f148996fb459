"""The dashboard role: dispatchers, supervisors and admins, signed in with two factors."""
