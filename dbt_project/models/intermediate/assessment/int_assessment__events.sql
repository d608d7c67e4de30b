-- Each loaded test event judged against the student expected to test (DOMAIN §1a', §2),
-- one row per event, so the participation mart and the every-event mart decide alike.
-- Expected to test: counted in the window's accountability (fct_k12_accountability_students
-- .included_in_accountability) for a subject the window holds to account
-- (seeds/accountability_tested_subjects.csv). Status of an event:
--   not_tested    a not-tested reason
--   out_of_level  a test of another grade than the student's computed grade: invalid
--   invalidated   a validity code (prohibited behaviour, nonstandard accommodation)
--   valid_score   otherwise
-- rank_for_student orders a student's events of one subject, best first (a valid score,
-- then out of level, invalidated, not tested; ties by assessment, then record token): the
-- first is the one that counts.
with expected as (
    select
        s.research_id,
        s.school_year,
        s.testing_window,
        s.computed_grade,
        ts.subject
    from {{ ref('fct_k12_accountability_students') }} as s
    inner join {{ ref('accountability_tested_subjects') }} as ts on s.testing_window = ts.testing_window
    where s.included_in_accountability
),

events as (
    select
        r.research_id,
        r.record_token,
        r.school_year,
        lower(r.testing_window) as testing_window,
        r.subject,
        r.assessment,
        r.test_grade,
        r.district_code,
        r.building_code,
        r.scale_score,
        r.performance_level,
        r.validity,
        r.not_tested_reason,
        l.proficient = 'Y' as proficient_level
    from {{ ref('int_assessment__results') }} as r
    left join {{ ref('assessment_performance_levels') }} as l
        on r.assessment = l.assessment and r.performance_level = l.performance_level
),

judged as (
    select
        e.*,
        x.research_id is not null as expected_to_test,
        case
            when e.not_tested_reason is not null then 'not_tested'
            when cast(e.test_grade as integer) <> x.computed_grade then 'out_of_level'
            when e.validity is not null then 'invalidated'
            else 'valid_score'
        end as result_status
    from events as e
    left join expected as x
        on
        e.research_id = x.research_id and e.school_year = x.school_year
        and e.testing_window = x.testing_window and e.subject = x.subject
)

select
    *,
    row_number() over (
        partition by research_id, school_year, testing_window, subject
        order by
            case result_status
                when 'valid_score' then 0 when 'out_of_level' then 1
                when 'invalidated' then 2 else 3
            end,
            assessment,
            record_token
    ) as rank_for_student
from judged
