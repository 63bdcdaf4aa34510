"""Identity building block: UIN/VID number rules, partner-specific tokens (pure functions in ``numbers``)."""
