{#- Typed views over text feed columns. "NA" (Not Applicable, agreement clause
    10(a)(i)) is kept distinct from blank (unknown): the typed column is null for
    both, and <col>_not_applicable says which. -#}

{% macro blank_to_null(col) -%}
    nullif(trim({{ col }}), '')
{%- endmacro %}

{% macro text_value(col) -%}
    case when trim({{ col }}) = 'NA' then null else {{ blank_to_null(col) }} end
{%- endmacro %}

{% macro not_applicable(col) -%}
    coalesce(trim({{ col }}) = 'NA', false)
{%- endmacro %}

{% macro typed(col, type) -%}
    try_cast({{ text_value(col) }} as {{ type }})
{%- endmacro %}
