-- SLEDS release: high school to college pathways per graduate. The first institution
-- is named only where that institution permits identification (clause 9(c)(i)).
select
    p.research_id,
    p.graduation_cohort,
    p.graduation_district_code,
    p.graduation_building_code,
    p.race_ethnicity_subgroup,
    p.gender,
    p.economically_disadvantaged,
    p.students_with_disabilities,
    p.limited_english_proficient,
    case when coalesce(a.permit_institution_identification, false) then p.first_institution_code end
        as first_institution_code,
    p.first_institution_sector,
    p.enrolled_fall_after,
    p.enrolled_within_16_months,
    p.enrolled_within_2_years,
    p.developmental_within_2_years,
    p.persisted_to_second_fall,
    p.completed_certificate_within_4_years,
    p.completed_associate_within_4_years,
    p.completed_bachelor_within_4_years,
    p.completed_any_award_within_4_years,
    p.completed_certificate_within_6_years,
    p.completed_associate_within_6_years,
    p.completed_bachelor_within_6_years,
    p.completed_any_award_within_6_years
from {{ ref('fct_pathways_hs_to_college') }} as p
left join {{ source('governance', 'agreements') }} as a on a.institution_code = p.first_institution_code
