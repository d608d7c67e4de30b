-- Fall-term postsecondary enrollment of the latest fiscal year by sex: state > sector >
-- institution, institutions named only where their agreement permits identification.
with enrolled as (
    select
        'ps_FY' || cast(e.fiscal_year as string) || '_fall' as population,
        e.fiscal_year,
        e.institution_sector as sector,
        e.institution_code as institution,
        coalesce(e.sex, 'U') as category
    from {{ ref('fct_ps_enrollment') }} as e
    where
        e.fiscal_year = {{ publish_latest(ref('fct_ps_enrollment'), 'fiscal_year', "term_season = 'FA'") }}
        and e.term_season = 'FA'
),

{{ publish_grid('enrolled', 'institution', 'sex', ['population', 'fiscal_year'],
    name_if='a.permit_institution_identification') }}
