-- Institution data mart: each institution's own awards (split per institution at export).
select
    w.institution_code,
    a.agreement_id,
    w.research_id,
    w.fiscal_year,
    {{ academic_year('w.fiscal_year') }} as academic_year,
    w.award_type, w.award_group, w.award_date, w.joint_award, w.major_1_cip, w.major_2_cip, w.sex,
    w.gender_identity_a, w.gender_identity_b, w.gender_identity_c, w.gender_identity_d,
    w.race_ethnicity, w.cumulative_debt
from {{ ref('fct_ps_awards') }} as w
left join {{ source('governance', 'agreements') }} as a using (institution_code)
