-- High school graduating cohorts: one row per student who graduated with a regular
-- diploma (End of Year exit status 01, role exit_status_regular_diploma in
-- seeds/msds_code_roles.csv), at the first graduation seen. The cohort year
-- is the calendar year of the school year's end (2020-21 -> 2021). Subgroups are taken
-- from the student's spring accountability row of that school year when there is one.
with graduations as (
    select
        research_id, school_year, school_year_start, district_code, building_code, exit_date,
        gender, race_ethnicity
    from {{ ref('int_msds__effective_records') }}
    where collection = 'EOY' and exit_status = {{ role_code('exit_status_regular_diploma') }}
    qualify row_number() over (partition by research_id order by exit_date, school_year, district_code) = 1
)

select
    g.research_id,
    g.school_year_start + 1 as graduation_cohort,
    g.school_year as graduation_school_year,
    g.exit_date as graduation_date,
    g.district_code as graduation_district_code,
    g.building_code as graduation_building_code,
    coalesce(s.race_ethnicity_subgroup, {{ race_ethnicity_subgroup('g.race_ethnicity', 'null') }})
        as race_ethnicity_subgroup,
    coalesce(s.gender, g.gender) as gender,
    coalesce(s.economically_disadvantaged, false) as economically_disadvantaged,
    coalesce(s.students_with_disabilities, false) as students_with_disabilities,
    coalesce(s.limited_english_proficient, false) as limited_english_proficient
from graduations as g
left join {{ ref('fct_k12_accountability_students') }} as s
    on s.research_id = g.research_id and s.school_year = g.school_year and s.testing_window = 'spring'
