-- SLEDS release: awards conferred at the student level. Clause 9(c)(vi): gender
-- identity and cumulative debt at graduation are withheld for the restricted academic
-- years; 9(c)(v) and 9(c)(i) as in rel_sleds__ps_enrollment; FERPA blocks honoured
-- where the agreement says so.
with awards as (
    select w.*, {{ academic_year('w.fiscal_year') }} as academic_year
    from {{ ref('fct_ps_awards') }} as w
),

governed as (
    select
        w.*,
        a.agreement_id,
        a.permit_institution_identification,
        a.permit_gender_identity_institution_level,
        a.honour_ferpa_block,
        {{ withheld('gender_identity', 'sleds', 'a.agreement_id', 'w.academic_year') }} as gender_identity_withheld,
        {{ withheld('cumulative_debt', 'sleds', 'a.agreement_id', 'w.academic_year') }} as cumulative_debt_withheld
    from awards as w
    left join {{ source('governance', 'agreements') }} as a using (institution_code)
)

select
    research_id,
    agreement_id,
    {{ if_permitted('permit_institution_identification', 'governed', 'institution_code') }} as institution_code,
    institution_sector,
    fiscal_year,
    academic_year,
    award_type,
    award_group,
    award_date,
    joint_award,
    major_1_cip,
    major_2_cip,
    cip_year,
    sex,
    {% for letter in ['a', 'b', 'c', 'd'] %}
        case when not gender_identity_withheld and coalesce(permit_gender_identity_institution_level, false)
            then gender_identity_{{ letter }}
        end as gender_identity_{{ letter }},
    {% endfor %}
    race_ethnicity,
    case when not cumulative_debt_withheld then cumulative_debt end as cumulative_debt
from governed
where not (coalesce(ferpa_block, false) and coalesce(honour_ferpa_block, false))
