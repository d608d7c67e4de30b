-- Institution data mart: each institution's own enrollment records (split into one
-- release per institution at export; clause 9(c)(iii)5 - internal planning, not for
-- publication). Its own gender identity and units are its own data.
select
    e.institution_code,
    a.agreement_id,
    e.research_id,
    e.fiscal_year,
    {{ academic_year('e.fiscal_year') }} as academic_year,
    e.term_season, e.term_start_date, e.term_end_date, e.sex,
    e.gender_identity_a, e.gender_identity_b, e.gender_identity_c, e.gender_identity_d,
    e.race_ethnicity, e.registration_type, e.student_level, e.award_seeking,
    e.major_1_cip, e.award_level_1, e.term_gpa, e.cumulative_gpa,
    e.regular_units_attempted, e.regular_units_completed, e.remedial_units_attempted, e.remedial_units_completed,
    e.took_remedial_coursework
from {{ ref('fct_ps_enrollment') }} as e
left join {{ source('governance', 'agreements') }} as a using (institution_code)
