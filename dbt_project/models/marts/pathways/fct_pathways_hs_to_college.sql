-- From high school to college completion, per graduate (Minnesota SLEDS "Getting
-- Prepared" and college-outcome definitions; docs/marts.md cites each). Enrollment is
-- in the state's institutions only (the feeds have no out-of-state enrollment). An
-- outcome whose follow-up period runs past the last term in the data is null (not
-- yet observable), never false.
with graduates as (
    select * from {{ ref('dim_k12_hs_graduates') }}
),

horizon as (
    select max(term_end_date) as last_observed_date from {{ ref('fct_ps_enrollment') }}
),

enrollments as (
    -- college enrollment after high school: concurrent-enrollment (PSEO) terms do not count
    select
        e.research_id, e.institution_code, e.institution_sector, e.fiscal_year, e.term_season,
        e.term_start_date, e.took_remedial_coursework
    from {{ ref('fct_ps_enrollment') }} as e
    where coalesce(e.registration_type, '') <> 'P'
),

after_graduation as (
    select g.research_id, g.graduation_date, g.graduation_cohort, n.* except (research_id)
    from graduates as g
    inner join enrollments as n
        on n.research_id = g.research_id and n.term_start_date > g.graduation_date
),

first_enrollment as (
    select
        research_id, institution_code as first_institution_code,
        institution_sector as first_institution_sector, term_start_date as first_term_start_date,
        fiscal_year as first_fiscal_year
    from after_graduation
    qualify row_number() over (partition by research_id order by term_start_date, institution_code) = 1
),

per_graduate as (
    select
        a.research_id,
        bool_or(a.term_season = 'FA' and year(a.term_start_date) = a.graduation_cohort) as enrolled_fall_after,
        bool_or(a.term_start_date <= a.graduation_date + interval 16 month) as enrolled_within_16_months,
        bool_or(a.term_start_date <= a.graduation_date + interval 2 year) as enrolled_within_2_years,
        bool_or(a.took_remedial_coursework and a.term_start_date <= a.graduation_date + interval 2 year)
            as developmental_within_2_years,
        bool_or(a.term_season = 'FA' and year(a.term_start_date) = a.graduation_cohort + 1)
            as enrolled_second_fall
    from after_graduation as a
    group by a.research_id
),

awards as (
    select
        g.research_id,
        min(case when w.award_group = 'certificate' then w.award_date end) as first_certificate_date,
        min(case when w.award_group = 'associate' then w.award_date end) as first_associate_date,
        min(case when w.award_group = 'bachelor' then w.award_date end) as first_bachelor_date
    from graduates as g
    inner join {{ ref('fct_ps_awards') }} as w
        on w.research_id = g.research_id and w.award_date > g.graduation_date
    group by g.research_id
)

select
    g.research_id,
    g.graduation_cohort,
    g.graduation_district_code,
    g.graduation_building_code,
    g.race_ethnicity_subgroup,
    g.gender,
    g.economically_disadvantaged,
    g.students_with_disabilities,
    g.limited_english_proficient,
    f.first_institution_code,
    f.first_institution_sector,
    f.first_term_start_date,
    case when make_date(g.graduation_cohort, 12, 31) <= h.last_observed_date
        then coalesce(p.enrolled_fall_after, false)
    end as enrolled_fall_after,
    case when g.graduation_date + interval 16 month <= h.last_observed_date
        then coalesce(p.enrolled_within_16_months, false)
    end as enrolled_within_16_months,
    case when g.graduation_date + interval 2 year <= h.last_observed_date
        then coalesce(p.enrolled_within_2_years, false)
    end as enrolled_within_2_years,
    case when g.graduation_date + interval 2 year <= h.last_observed_date
        then coalesce(p.developmental_within_2_years, false)
    end as developmental_within_2_years,
    -- persistence is asked of those who enrolled the fall after graduating
    case when p.enrolled_fall_after and make_date(g.graduation_cohort + 1, 12, 31) <= h.last_observed_date
        then coalesce(p.enrolled_second_fall, false)
    end as persisted_to_second_fall,
    {% for years in [4, 6] %}
        {% for level in ['certificate', 'associate', 'bachelor'] %}
            case when g.graduation_date + interval {{ years }} year <= h.last_observed_date
                then coalesce(w.first_{{ level }}_date <= g.graduation_date + interval {{ years }} year, false)
            end as completed_{{ level }}_within_{{ years }}_years,
        {% endfor %}
        case when g.graduation_date + interval {{ years }} year <= h.last_observed_date
            then coalesce(
                    least(w.first_certificate_date, w.first_associate_date, w.first_bachelor_date)
                    <= g.graduation_date + interval {{ years }} year, false
                )
        end as completed_any_award_within_{{ years }}_years,
    {% endfor %}
    h.last_observed_date
from graduates as g
cross join horizon as h
left join first_enrollment as f using (research_id)
left join per_graduate as p using (research_id)
left join awards as w using (research_id)
