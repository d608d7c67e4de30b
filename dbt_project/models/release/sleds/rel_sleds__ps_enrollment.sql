-- SLEDS release: postsecondary enrollment at the student level (research IDs only).
-- Clause 9(c)(vi): gender identity is withheld for the academic years the registry
-- restricts for the `sleds` audience; clause 9(c)(v): it is shown only where the
-- institution permits institution-level gender identity; clause 9(c)(i): the
-- institution code only where the institution permits identification (else sector);
-- FERPA directory blocks are honoured where the agreement says so (students who
-- blocked are left out). Columns are an explicit allowlist (contract).
with enrollment as (
    select e.*, {{ academic_year('e.fiscal_year') }} as academic_year
    from {{ ref('fct_ps_enrollment') }} as e
),

governed as (
    select
        e.*,
        a.agreement_id,
        a.permit_institution_identification,
        a.permit_gender_identity_institution_level,
        a.honour_ferpa_block,
        {{ withheld('gender_identity', 'sleds', 'a.agreement_id', 'e.academic_year') }} as gender_identity_withheld
    from enrollment as e
    left join {{ source('governance', 'agreements') }} as a using (institution_code)
)

select
    research_id,
    agreement_id,
    {{ if_permitted('permit_institution_identification', 'governed', 'institution_code') }} as institution_code,
    institution_sector,
    fiscal_year,
    academic_year,
    term_season,
    term_start_date,
    term_end_date,
    term_type,
    sex,
    {% for letter in ['a', 'b', 'c', 'd'] %}
        case when not gender_identity_withheld and coalesce(permit_gender_identity_institution_level, false)
            then gender_identity_{{ letter }}
        end as gender_identity_{{ letter }},
    {% endfor %}
    race_ethnicity,
    first_generation,
    hs_graduation_year,
    secondary_school_experience,
    registration_type,
    student_level,
    tuition_type,
    award_seeking,
    major_1_cip,
    award_level_1,
    major_2_cip,
    award_level_2,
    term_gpa,
    cumulative_gpa,
    unit_of_measure,
    regular_units_attempted,
    regular_units_completed,
    remedial_units_attempted,
    remedial_units_completed,
    took_remedial_coursework,
    completed_college_math,
    completed_college_english,
    accumulated_units,
    transfer_units
from governed
where not (coalesce(ferpa_block, false) and coalesce(honour_ferpa_block, false))
