-- DOMAIN §2 full academic year (FAY): one row per student and school year whose
-- proficiency results count in a district under FAY - the district that was the
-- student's accountable district (PEPE, or S2E2 resident) in the fall, spring and End of Year collections of the PRIOR
-- school year, with the student enrolled at each of the three. The current year's
-- records play no part: a student who has since moved to another district (or left the
-- state and has no record this year) still counts for the prior year's district, and
-- the new district does not get FAY for the student this year.
--
-- A row exists for the year after every loaded year, whether or not the student has a
-- record in it, so a result that has no MSDS record this year (an assessment taken by a
-- student who left) still finds its FAY district; fct_k12_accountability_students
-- takes fay_district_code from here for the students it has.
-- the district each collection holds the student accountable in: the S2E2 resident
-- building's district when the student is taught elsewhere (DOMAIN §2 SEE / S2E2), else
-- the PEPE district. A building missing from seeds/k12_buildings.csv gives no district
-- (no FAY), and the reference_data_complete check fails the build naming it.
with collections as (
    select
        p.research_id,
        p.school_year_start,
        p.enrolled_at_window,
        case when p.s2e2_building_code is null then p.pepe_district_code else b.district_code end
            as accountable_district_code
    from {{ ref('int_k12__collection_pepe') }} as p
    left join {{ ref('k12_buildings') }} as b on b.building_code = p.s2e2_building_code
    where p.collection in ('FALL', 'SPRING', 'EOY')
),

prior_year as (
    select
        research_id,
        school_year_start,
        count(*) as collections,
        count(accountable_district_code) as with_district,
        count(distinct accountable_district_code) as districts,
        bool_and(enrolled_at_window) as enrolled_at_each,
        min(accountable_district_code) as district_code
    from collections
    group by research_id, school_year_start
)

select
    research_id,
    -- the current year (the one after the collections), written YYYY-YY as school_year is
    cast(school_year_start + 1 as string) || '-' || lpad(cast((school_year_start + 2) % 100 as string), 2, '0')
        as school_year,
    school_year_start + 1 as school_year_start,
    district_code as fay_district_code
from prior_year
-- one PEPE row per collection (int_k12__collection_pepe's grain): three rows are the
-- three collections
where collections = 3 and with_district = 3 and districts = 1 and enrolled_at_each
