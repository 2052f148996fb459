"""The Twilio SMS channel: signed webhook, keywords, reply texts, the outbound sender and
carrier-side minimisation. It adapts Twilio to the core's conversations; the core knows
nothing of it."""
