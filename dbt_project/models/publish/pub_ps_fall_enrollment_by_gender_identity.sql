-- Fall-term postsecondary enrollment of the latest fiscal year by gender identity (A):
-- state > sector > institution. An institution is listed only if its agreement permits
-- both naming it and institution-level gender identity.
with enrolled as (
    select
        'ps_FY' || cast(e.fiscal_year as string) || '_fall' as population,
        e.fiscal_year,
        e.institution_sector as sector,
        e.institution_code as institution,
        coalesce(
            e.gender_identity_a,
            case when e.gender_identity_a_not_applicable then 'Not collected' else 'Not reported' end
        ) as category
    from {{ ref('fct_ps_enrollment') }} as e
    where
        e.fiscal_year = {{ publish_latest(ref('fct_ps_enrollment'), 'fiscal_year', "term_season = 'FA'") }}
        and e.term_season = 'FA'
),

{{ publish_grid('enrolled', 'institution', 'gender_identity', ['population', 'fiscal_year'],
    name_if='(coalesce(a.permit_gender_identity_institution_level, false) and a.permit_institution_identification)') }}
