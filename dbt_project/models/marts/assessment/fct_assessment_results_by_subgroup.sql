-- Participation and proficiency by school, district and state x every subgroup (All
-- Students included) x school year x testing window x subject: the accountability
-- results DOMAIN §1a' and §2 define. Participation = participated / expected to test
-- (out-of-level and invalidated tests count as not tested; a medical not-tested reason
-- leaves the denominator), by accountable school and district; it must reach the target
-- of seeds/accountability_targets.csv (95%). Proficiency = proficient / full-academic-year
-- students with a valid score, by the FAY (or S2E2 resident) district and school.
-- Internal mart: cells of any size; the published tables go through the suppression engine.
with students as (
    select
        p.*,
        m.subgroup_code,
        m.subgroup
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_subgroups') }} as m
        on m.research_id = p.research_id and m.school_year = p.school_year and m.testing_window = p.testing_window
),

placed as (
    select
        'state' as unit_level, 'STATE' as unit_code, s.*,
        true as in_participation_unit, s.in_proficiency as in_proficiency_unit
    from students as s
    union all
    select
        'district', s.accountable_district_code, s.*,
        true, s.in_proficiency and s.proficiency_district_code = s.accountable_district_code
    from students as s
    union all
    select
        'school', s.accountable_building_code, s.*,
        true, s.in_proficiency and s.proficiency_building_code = s.accountable_building_code
    from students as s
    -- proficiency credited away from where the student is accountable now (FAY in the
    -- district the student has since left: no school of it is credited)
    union all
    select
        'district', s.proficiency_district_code, s.*,
        false, true
    from students as s
    where s.in_proficiency and s.proficiency_district_code <> s.accountable_district_code
),

counted as (
    select
        school_year,
        testing_window,
        subject,
        unit_level,
        unit_code,
        subgroup_code,
        subgroup,
        cast(sum(case when in_participation_unit and in_participation_denominator then 1 else 0 end) as bigint)
            as expected_to_test,
        cast(
            sum(
                case when in_participation_unit and in_participation_denominator and participated then 1 else 0 end
            ) as bigint
        )
            as participated,
        cast(sum(case when in_participation_unit and result_status = 'out_of_level' then 1 else 0 end) as bigint)
            as out_of_level,
        cast(sum(case when in_participation_unit and result_status = 'invalidated' then 1 else 0 end) as bigint)
            as invalidated,
        cast(sum(case when in_participation_unit and result_status = 'no_record' then 1 else 0 end) as bigint)
            as no_record,
        cast(sum(case when in_proficiency_unit then 1 else 0 end) as bigint) as fay_valid_scores,
        cast(sum(case when in_proficiency_unit and proficient then 1 else 0 end) as bigint) as proficient
    from placed
    where unit_code is not null
    group by school_year, testing_window, subject, unit_level, unit_code, subgroup_code, subgroup
),

-- one value: a missing row leaves meets_participation_target null, which its not-null
-- test fails (the seed's unique test refuses a second row)
target as (
    select max(value) as value from {{ ref('accountability_targets') }} where target = 'participation_rate_min'
)

select
    c.*,
    case when c.expected_to_test > 0 then cast(c.participated as double) / c.expected_to_test end
        as participation_rate,
    case when c.expected_to_test > 0 then cast(c.participated as double) / c.expected_to_test >= t.value end
        as meets_participation_target,
    case when c.fay_valid_scores > 0 then cast(c.proficient as double) / c.fay_valid_scores end as proficiency_rate
from counted as c
cross join target as t
