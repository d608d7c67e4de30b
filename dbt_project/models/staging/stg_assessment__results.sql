-- Thin typed view over the raw feed: rename nothing, cast text to types, keep
-- "Not Applicable" distinct from blank. Generated layout: seeds/feed_layouts.csv.
-- Rendered by `make codegen` (tools/dbt_codegen.py): edit the seed, not this file.
select
    record_token,
    source_file,
    source_row,
    {{ text_value('school_year') }} as school_year,
    {{ text_value('testing_window') }} as testing_window,
    {{ text_value('district_code') }} as district_code,
    {{ text_value('building_code') }} as building_code,
    {{ text_value('test_grade') }} as test_grade,
    {{ text_value('subject') }} as subject,
    {{ text_value('assessment') }} as assessment,
    {{ typed('scale_score', 'integer') }} as scale_score,
    {{ text_value('performance_level') }} as performance_level,
    {{ text_value('validity') }} as validity,
    {{ text_value('not_tested_reason') }} as not_tested_reason
from {{ source('raw', 'assessment') }}
