{#- The population of a public assessment table (DOMAIN §1a', §2), for one subject of the
    fall window, handed to publish_grid: state > district by race/ethnicity subgroup.

    kind 'participation': students expected to test (a medical not-tested reason leaves the
    denominator), credited where they are accountable; outcome: tested with a valid score at
    their grade (out-of-level and invalidated tests count as not tested).
    kind 'proficiency': full-academic-year students with a valid score, credited to the FAY
    district (even one they have since left); outcome: proficient.

    The year is the latest with fall test events loaded (a fall collection whose results have
    not arrived would otherwise publish every student as not tested). Districts are the
    lowest level (depth=2): school x race rate cells are mostly under the minimum size. -#}
{% macro assessment_publication(subject, kind) -%}
{%- if kind not in ('participation', 'proficiency') -%}
    {{ exceptions.raise_compiler_error("assessment_publication: kind must be 'participation' or 'proficiency', got '" ~ kind ~ "'") }}
{%- endif -%}
{%- set participation = kind == 'participation' -%}
with students as (
    select
        'k12_' || p.school_year || '_fall_{{ subject }}_{{ "expected" if participation else "fay_scored" }}' as population,
        p.school_year,
        {{ 'p.accountable_district_code' if participation else 'p.proficiency_district_code' }} as district,
        {{ 'p.accountable_building_code' if participation else 'cast(null as string)' }} as building,
        s.race_ethnicity_subgroup as category,
        {{ 'p.participated' if participation else 'p.proficient' }} as outcome
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_students') }} as s
        on p.research_id = s.research_id and p.school_year = s.school_year and p.testing_window = s.testing_window
    where
        p.school_year = {{ publish_latest(ref('fct_assessment_results'), 'school_year', "testing_window = 'fall'") }}
        and p.testing_window = 'fall'
        and p.subject = '{{ subject }}'
        and {{ 'p.in_participation_denominator' if participation else 'p.in_proficiency' }}
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year'], rate=true, depth=2) }}
{%- endmacro %}
