-- Awards conferred in the latest fiscal year by award group: state > sector >
-- institution, institutions named only where their agreement permits identification.
with awarded as (
    select
        'ps_awards_FY' || cast(w.fiscal_year as string) as population,
        w.fiscal_year,
        w.institution_sector as sector,
        w.institution_code as institution,
        coalesce(w.award_group, 'other') as category
    from {{ ref('fct_ps_awards') }} as w
    where w.fiscal_year = {{ publish_latest(ref('fct_ps_awards'), 'fiscal_year') }}
),

{{ publish_grid('awarded', 'institution', 'award_group', ['population', 'fiscal_year'],
    name_if='a.permit_institution_identification') }}
