-- WIOA Eligible Training Provider List: certificate completers of the latest fiscal year
-- by program (2-digit CIP family): state > sector > institution. An institution is named
-- with its permission, or under the agreements' listed permission (WIOA ETPL programs at
-- the cell size of the table's policy, from the seeds) when one of its programs has that
-- many completers; the others stay in their sector's unnamed part.
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

{{ publish_grid('completers', 'institution', 'program', ['population', 'fiscal_year'],
    name_if='a.permit_institution_identification',
    listed_permission_min_cell=publish_policy_min_n('wioa_etpl_completers_by_program')) }}
