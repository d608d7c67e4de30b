-- One row per student expected to test x school year x testing window x subject: the
-- accountability outcome of DOMAIN §1a' and §2. Expected to test: counted in the window's
-- accountability (fct_k12_accountability_students.included_in_accountability: enrolled at
-- the window, a tested grade, not nonpublic or home-schooled) for each subject the window
-- tests (seeds/accountability_tested_subjects.csv). Of the student's test events for the
-- subject the best one counts (int_assessment__events: a valid score first); its status:
--   valid_score   a score at the student's grade with no validity flag: participated
--   out_of_level  a test of another grade than the computed grade: invalid, not tested
--   invalidated   prohibited behaviour or a nonstandard accommodation: not tested
--   not_tested    a not-tested reason; a reason that does not count against participation
--                 (seeds/assessment_not_tested_reasons.csv: medical) leaves the denominator
--   no_record     expected to test, and the vendor's file has no record at all
-- Participation is credited where the student is accountable (the S2E2 resident building
-- when there is one); proficiency counts full-academic-year students with a valid score,
-- credited to the FAY district (decided on last year's accountable district: the S2E2
-- resident district where there was one).
with expected as (
    select s.*, ts.subject
    from {{ ref('fct_k12_accountability_students') }} as s
    inner join {{ ref('accountability_tested_subjects') }} as ts on s.testing_window = ts.testing_window
    where s.included_in_accountability
),

-- the student's best event of the subject (int_assessment__events ranks them)
best as (
    select * from {{ ref('int_assessment__events') }}
    where expected_to_test and rank_for_student = 1
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
    -- DOMAIN §2: credited to the FAY district, which is already the S2E2 resident district
    -- where last year's collections sent scores there (int_k12__fay_districts); the school is
    -- this year's accountable building while the student is still in that district
    case
        when x.full_academic_year and b.result_status = 'valid_score' then x.fay_district_code
    end as proficiency_district_code,
    case
        when
            x.full_academic_year and b.result_status = 'valid_score'
            and x.fay_district_code = x.accountable_district_code
        then x.accountable_building_code
    end as proficiency_building_code,
    case when b.result_status = 'valid_score' then b.proficient_level end as proficient
from expected as x
left join best as b
    on
    b.research_id = x.research_id and b.school_year = x.school_year
    and b.testing_window = x.testing_window and b.subject = x.subject
left join {{ ref('assessment_not_tested_reasons') }} as nt on nt.not_tested_reason = b.not_tested_reason
