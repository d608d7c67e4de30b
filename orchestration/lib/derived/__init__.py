"""Non-identifying attributes computed inside the vault boundary from PII.

The accountability rules need a student's age on December 1 (ungraded students get
grade = age - 6), but the date of birth must never reach the warehouse. This step
reads the birthdate in the vault and writes only the whole-year age, keyed by the
record's random token."""
