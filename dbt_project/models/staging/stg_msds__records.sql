-- Thin typed view over the raw feed: rename nothing, cast text to types, keep
-- "Not Applicable" distinct from blank. Generated layout: seeds/feed_layouts.csv.
-- Rendered by `make codegen` (tools/dbt_codegen.py): edit the seed, not this file.
select
    record_token,
    source_file,
    source_row,
    {{ text_value('school_year') }} as school_year,
    {{ text_value('collection') }} as collection,
    {{ text_value('submitting_entity') }} as submitting_entity,
    {{ text_value('gender') }} as gender,
    {{ text_value('district_code') }} as district_code,
    {{ text_value('building_code') }} as building_code,
    {{ text_value('grade') }} as grade,
    {{ text_value('residency_code') }} as residency_code,
    {{ typed('fte', 'decimal(9,2)') }} as fte,
    {{ typed('enrollment_date', 'date') }} as enrollment_date,
    {{ typed('exit_date', 'date') }} as exit_date,
    {{ text_value('exit_status') }} as exit_status,
    {{ text_value('race_ethnicity') }} as race_ethnicity,
    {{ text_value('primary_disability') }} as primary_disability,
    {{ typed('sped_exit_date', 'date') }} as sped_exit_date,
    {{ text_value('sped_exit_reason') }} as sped_exit_reason,
    {{ text_value('lep_program') }} as lep_program,
    {{ typed('lep_exit_date', 'date') }} as lep_exit_date,
    {{ text_value('lep_exit_reason') }} as lep_exit_reason,
    {{ text_value('nutrition_eligibility') }} as nutrition_eligibility,
    case {{ text_value('direct_certification') }} when 'Y' then true when 'N' then false end as direct_certification,
    case {{ text_value('migrant') }} when 'Y' then true when 'N' then false end as migrant,
    {{ text_value('nighttime_residence') }} as nighttime_residence,
    {{ text_value('s2e2_building_code') }} as s2e2_building_code,
    {{ typed('as_of_date', 'date') }} as as_of_date,
    {{ typed('certification_date', 'date') }} as certification_date
from {{ source('raw', 'msds') }}
