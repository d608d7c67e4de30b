-- SLEDS release: K-12 accountability at the student level. The MSDS collections are
-- not under the OHE agreement; the allowlist still names every column (contract).
select
    research_id, school_year, testing_window, accountable_district_code, accountable_building_code,
    computed_grade, tested_grade, race_ethnicity_subgroup, gender, students_with_disabilities,
    limited_english_proficient, economically_disadvantaged, homeless, migrant, full_academic_year,
    fay_district_code, exclusion_reason, included_in_accountability
from {{ ref('fct_k12_accountability_students') }}
