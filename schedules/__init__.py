"""Jobs that run on a clock: thin, idempotent, recording what they sent so nothing is sent twice."""
