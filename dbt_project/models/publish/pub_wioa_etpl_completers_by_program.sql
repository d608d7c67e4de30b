-- WIOA Eligible Training Provider List: certificate completers of the latest fiscal year
-- by program (2-digit CIP family): state > sector > institution. Naming every
-- institution in ETPL summaries is a listed permission of the agreements, so every
-- institution is named (the seed row gives the policy and its cell size).
with completers as (
    select
        'etpl_FY' || cast(w.fiscal_year as string) as population,
        w.fiscal_year,
        w.institution_sector as sector,
        w.institution_code as institution,
        'CIP ' || substr(w.major_1_cip, 1, 2) as category
    from {{ ref('fct_ps_awards') }} as w
    where
        w.fiscal_year = {{ publish_latest(ref('fct_ps_awards'), 'fiscal_year') }}
        and w.award_group = 'certificate'
),

{{ publish_grid('completers', 'institution', 'program', ['population', 'fiscal_year'], name_if='true') }}
