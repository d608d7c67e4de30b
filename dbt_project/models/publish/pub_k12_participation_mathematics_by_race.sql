-- Participation in the fall mathematics test by race/ethnicity: state > district (students
-- expected to test; tested with a valid score at their grade). The population and its
-- rules: macros/assessment_publish.sql.
{{ assessment_publication('MA', 'participation') }}
