-- One row per student expected to test x school year x testing window x subject: the
-- accountability outcome of DOMAIN §1a' and §2. Expected to test: counted in the window's
-- accountability (fct_k12_accountability_students.included_in_accountability: enrolled at
-- the window, a tested grade, not nonpublic or home-schooled) for each subject the window
-- tests (seeds/accountability_tested_subjects.csv). Of the student's test events for the
-- subject the best one counts (a valid score first); its status:
--   valid_score   a score at the student's grade with no validity flag: participated
--   out_of_level  a test of another grade than the computed grade: invalid, not tested
--   invalidated   prohibited behaviour or a nonstandard accommodation: not tested
--   not_tested    a not-tested reason; a reason that does not count against participation
--                 (seeds/assessment_not_tested_reasons.csv: medical) leaves the denominator
--   no_record     expected to test, and the vendor's file has no record at all
-- Participation is credited where the student is accountable (the S2E2 resident building
-- when there is one); proficiency counts full-academic-year students with a valid score,
-- credited to the FAY district, or with an S2E2 code to the resident district.
with expected as (
    select s.*, ts.subject
    from {{ ref('fct_k12_accountability_students') }} as s
    inner join {{ ref('accountability_tested_subjects') }} as ts on ts.testing_window = s.testing_window
    where s.included_in_accountability
),

events as (
    select
        r.research_id,
        r.school_year,
        lower(r.testing_window) as testing_window,
        r.subject,
        r.record_token,
        r.test_grade,
        r.assessment,
        r.scale_score,
        r.performance_level,
        r.validity,
        r.not_tested_reason,
        l.proficient = 'Y' as proficient_level
    from {{ ref('int_assessment__results') }} as r
    left join {{ ref('assessment_performance_levels') }} as l
        on l.assessment = r.assessment and l.performance_level = r.performance_level
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
        x.research_id = e.research_id and x.school_year = e.school_year
        and x.testing_window = e.testing_window and x.subject = e.subject
),

best as (
    select
        *,
        row_number() over (
            partition by research_id, school_year, testing_window, subject
            order by
                case result_status when 'valid_score' then 0 when 'out_of_level' then 1
                    when 'invalidated' then 2 else 3
                end,
                assessment
        ) as rank_for_student
    from judged
    where expected_to_test
)

select
    x.research_id,
    x.school_year,
    x.testing_window,
    x.subject,
    x.accountable_district_code,
    x.accountable_building_code,
    x.computed_grade,
    b.assessment,
    b.test_grade,
    b.scale_score,
    b.performance_level,
    coalesce(b.result_status, 'no_record') as result_status,
    b.not_tested_reason,
    coalesce(b.result_status = 'valid_score', false) as participated,
    coalesce(nt.counts_against_participation, 'Y') = 'Y' as in_participation_denominator,
    x.full_academic_year,
    x.fay_district_code,
    x.full_academic_year and coalesce(b.result_status = 'valid_score', false) as in_proficiency,
    -- DOMAIN §2: credited to the FAY district; an S2E2 code sends scores to the resident district
    case
        when not x.full_academic_year or b.result_status is distinct from 'valid_score' then null
        when x.s2e2_building_code is not null then x.accountable_district_code
        else x.fay_district_code
    end as proficiency_district_code,
    case
        when not x.full_academic_year or b.result_status is distinct from 'valid_score' then null
        when x.s2e2_building_code is not null or x.fay_district_code = x.accountable_district_code
        then x.accountable_building_code
    end as proficiency_building_code,
    case when b.result_status = 'valid_score' then b.proficient_level end as proficient
from expected as x
left join best as b
    on
    b.research_id = x.research_id and b.school_year = x.school_year
    and b.testing_window = x.testing_window and b.subject = x.subject and b.rank_for_student = 1
left join {{ ref('assessment_not_tested_reasons') }} as nt on nt.not_tested_reason = b.not_tested_reason
