{#- Schemas are named by layer (staging, reference, marts...), not prefixed with the
    target schema, so researchers and releases see stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
