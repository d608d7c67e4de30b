-- One row per student (research ID) x school year x testing window (fall, spring):
-- who is accountable where, in which grade and subgroups, and why a student is not
-- counted. Every rule is from DOMAIN §2; the dated windows, tested grades, residency
-- codes, race groups and the codes the rules single out (seeds/msds_code_roles.csv)
-- are seeds.
--
-- Grain: the students with a PEPE record in the window's collection. FAY (DOMAIN §2) is
-- decided by the prior school year alone (int_k12__fay_districts): fay_district_code is
-- the district that held the student accountable (PEPE, or S2E2 resident) in all three of
-- last year's collections, even when the student is now in another district; a student
-- with no record this year (left the state) has no row here and no accountability result.
--
-- Reference data is never filled in here: an S2E2 building missing from
-- seeds/k12_buildings.csv leaves accountable_district_code null, and the blocking check
-- reference_data_complete (orchestration/defs/reference_checks.py) fails the build
-- naming the seed row to add.
with pepe as (
    select * from {{ ref('int_k12__collection_pepe') }} where collection in ('FALL', 'SPRING')
),

buildings as (
    select building_code, district_code from {{ ref('k12_buildings') }}
),

graded as (
    select
        p.*,
        lower(p.collection) as testing_window,
        -- ungraded (14): computed grade = age on December 1 - 6; 20 and 30 have none
        case
            when p.reported_grade = {{ role_code('grade_ungraded') }} then p.age_on_december_1 - 6
            when p.reported_grade between '00' and '12' then cast(p.reported_grade as integer)
        end as computed_grade
    from pepe as p
),

-- DOMAIN §2 "some grade 12": tested in the spring only without a grade-11 spring
-- window the year before
prior_grade_11 as (
    select research_id, school_year_start + 1 as school_year_start, true as had_grade_11_spring
    from graded
    where collection = 'SPRING' and computed_grade = 11
    group by all
),

tested as (
    select
        g.*,
        case t.tested
            when 'Y' then true
            when 'if_untested_in_grade_11' then not coalesce(p11.had_grade_11_spring, false)
            else false
        end as tested_grade
    from graded as g
    left join {{ ref('accountability_tested_grades') }} as t
        on t.testing_window = g.testing_window and t.grade = lpad(cast(g.computed_grade as string), 2, '0')
    left join prior_grade_11 as p11 using (research_id, school_year_start)
),

race as (
    -- DOMAIN §2: one flag = that group; several = Multiracial unless Hispanic is set
    select
        t.research_id,
        t.collection_sequence,
        {{ race_ethnicity_subgroup('t.race_ethnicity', "'Not reported'") }} as race_ethnicity_subgroup
    from tested as t
)

select
    t.research_id,
    t.school_year,
    t.testing_window,
    t.testing_window_start,
    t.pepe_district_code,
    t.pepe_building_code,
    t.s2e2_building_code,
    -- DOMAIN §2 SEE / S2E2: scores go back to the resident building's district (from
    -- seeds/k12_buildings.csv; no fallback to the teaching district)
    coalesce(t.s2e2_building_code, t.pepe_building_code) as accountable_building_code,
    case when t.s2e2_building_code is null then t.pepe_district_code else b.district_code end
        as accountable_district_code,
    t.pepe_srm_applied as srm_applied,
    t.reported_grade,
    t.computed_grade,
    t.tested_grade,
    t.residency_code,
    t.gender,
    race.race_ethnicity_subgroup,
    c.students_with_disabilities,
    c.limited_english_proficient,
    c.economically_disadvantaged,
    c.homeless,
    c.migrant,
    -- DOMAIN §2 FAY: the prior year's single accountable district, wherever the student is now
    fay.fay_district_code is not null as full_academic_year,
    fay.fay_district_code,
    t.enrolled_at_window,
    case
        when not t.enrolled_at_window then 'exited_before_window'
        when res.counts_in_accountability = 'N' then res.exclusion_reason
        when not t.tested_grade then 'untested_grade'
    end as exclusion_reason,
    (t.enrolled_at_window and coalesce(res.counts_in_accountability, 'Y') = 'Y' and t.tested_grade)
        as included_in_accountability
from tested as t
inner join race using (research_id, collection_sequence)
left join {{ ref('int_k12__student_characteristics') }} as c using (research_id, school_year, testing_window)
left join {{ ref('accountability_residency') }} as res using (residency_code)
left join buildings as b on b.building_code = t.s2e2_building_code
left join {{ ref('int_k12__fay_districts') }} as fay
    on fay.research_id = t.research_id and fay.school_year = t.school_year
