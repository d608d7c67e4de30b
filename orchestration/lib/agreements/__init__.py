"""Data sharing agreements as data: the registry a steward edits (seeds/agreement*.csv),
validated on load, and the status each agreement has on the day a release is built."""
