-- Proficiency in fall mathematics by race/ethnicity: state > district (full-academic-year
-- students with a valid score, credited to the FAY district; proficient). The population
-- and its rules: macros/assessment_publish.sql.
{{ assessment_publication('MA', 'proficiency') }}
