/*
 * test_template.c — per-construct tests of the Jinja chat-template engine (api/template).
 *
 * Each table row is a template, a context and the exact output Jinja2 produces under Hugging Face's settings
 * (trim_blocks, lstrip_blocks, loopcontrols, ImmutableSandboxedEnvironment, HF's tojson). The expected strings
 * follow Jinja2's and Python's documented semantics. The whole real-template corpus is checked separately by
 * test_template_golden.c. Beyond output: error messages and lines, limits, API contracts, concurrent renders of
 * one compiled template, and a no-crash sweep over mutated templates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "err.h"
#include "template/tmpl.h"

#define NOW 1795651200 /* 2026-11-26 00:00:00 UTC, the corpus's SOURCE_DATE_EPOCH */

typedef struct {
    const char *tpl, *ctx, *want; /* ctx: JSON written with single quotes (none of the values contain one) */
} case_t;

typedef struct {
    const char *tpl, *ctx, *msg; /* msg: a substring of the expected error message */
} err_case_t;

typedef struct {
    const char *tpl, *msg;
    int line;
} syntax_case_t;

/* Parses a single-quoted JSON context (NULL/empty: none). */
static cJSON *parse_ctx(const char *ctx) {
    if (!ctx || !*ctx) return NULL;
    char *s = strdup(ctx);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

/* Compiles and renders; returns the tmpl_* code, the output in *out (caller frees) and the message in err. */
static int render(const char *tpl, size_t tpl_len, const char *ctx, const tmpl_render_opts_t *opts, char **out,
                  size_t *out_len, char *err, size_t err_len) {
    tmpl_t *t = NULL;
    *out = NULL;
    int rc = tmpl_compile(tpl, tpl_len, &t, err, err_len);
    if (rc) return rc;
    cJSON *j = parse_ctx(ctx);
    tmpl_render_opts_t o;
    tmpl_render_opts_default(&o);
    o.now = NOW;
    rc = tmpl_render(t, j, opts ? opts : &o, out, out_len, err, err_len);
    cJSON_Delete(j);
    tmpl_free(t);
    return rc;
}

static void run_cases(const char *group, const case_t *cases, size_t n) {
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char err[512] = "", *out = NULL;
        size_t len = 0;
        int rc = render(cases[i].tpl, strlen(cases[i].tpl), cases[i].ctx, NULL, &out, &len, err, sizeof(err));
        if (rc != 0 || len != strlen(cases[i].want) || memcmp(out, cases[i].want, len) != 0) {
            failures++;
            print_error("%s[%zu] %s\n  want: %s\n  got:  %s (rc %d: %s)\n", group, i, cases[i].tpl, cases[i].want,
                        out ? out : "(none)", rc, err);
        }
        free(out);
    }
    assert_int_equal(failures, 0);
}

#define RUN(group) run_cases(#group, group##_cases, sizeof(group##_cases) / sizeof(group##_cases[0]))

static const case_t whitespace_cases[] = {
    {"a {{- ' b ' -}} c", "", "a b c"},
    {"{% if true %}\nx\n{% endif %}\ny", "", "x\ny"},
    {"  {% if true %}\n  x\n  {% endif %}\n", "", "  x\n"},
    {"a  {%+ if true %}x{% endif %}", "", "a  x"},
    {"{% if true +%}\nx{% endif %}", "", "\nx"},
    {"line\n    {% if true -%}\n   inner\n    {%- endif %}\nend", "", "line\ninnerend"},
    {"a {# comment #} b", "", "a  b"},
    {"  {# c #}\nx", "", "x"},
    {"a {#- c -#}   b", "", "ab"},
    {"{% raw %}{{ x }}{% endraw %}", "", "{{ x }}"},
    {"{%- raw -%}  {{ y }}  {%- endraw -%}  z", "", "{{ y }}z"},
    {"x\n", "", "x"},
    {"x\n\n", "", "x\n"},
    {"a\r\nb\rc", "", "a\nb\nc"},
    {"{{ 'x' }}\n{{ 'y' }}", "", "x\ny"},
    {"{% for i in [1, 2] %}\n  - {{ i }}\n{% endfor %}\nend", "", "  - 1\n  - 2\nend"},
    {"{{ {'a': {'b': 1}} }}", "", "{'a': {'b': 1}}"},
};

static const case_t literals_cases[] = {
    {"{{ 'a\\tb\\\\c\\'d\\\"e' }}", "", "a\tb\\c'd\"e"},
    {"{{ '\\u00e9\\x41\\101\\n' }}", "", "éAA\n"},
    {"{{ 'ab' 'cd' }}", "", "abcd"},
    {"{{ 42 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1.5 }} {{ 1e3 }} {{ 2.5e-3 }}", "",
     "42 1000 31 5 15 1.5 1000.0 0.0025"},
    {"{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "", "True True False None None"},
    {"{{ [1, 'a', none, true, 1.5] }}", "", "[1, 'a', None, True, 1.5]"},
    {"{{ (1, 2) }} {{ (1,) }} {{ () }}", "", "(1, 2) (1,) ()"},
    {"{{ {'k': 'v', 'n': [1]} }}", "", "{'k': 'v', 'n': [1]}"},
    {"{{ [\"it's\", 'a\"b', 'x\\\\y', '\\n'] }}", "", "[\"it's\", 'a\"b', 'x\\\\y', '\\n']"},
    {"{{ ['é', '\\xa0', '\\x07', '\\u200b'] }}", "", "['é', '\\xa0', '\\x07', '\\u200b']"},
    {"{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ -0.0 }} {{ 0.1 + 0.2 }}", "",
     "1e+16 1000000000000000.0 0.0001 1e-05 0.3333333333333333 -0.0 0.30000000000000004"},
    {"{{ 1, 2 }}", "", "(1, 2)"},
};

static const case_t operators_cases[] = {
    {"{{ 1 + 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 10 / 5 }}", "",
     "3 3.5 3 -4 2 1024 0.5 2.0"},
    {"{{ 1 + 1.5 }} {{ true + 1 }} {{ 5 - 7 }} {{ 2 * 3.0 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", "",
     "2.5 2 -2 6.0 3.0 0.5"},
    {"{{ 'a' + 'b' }} {{ 'ab' * 2 }} {{ 2 * 'x' }} {{ [1] + [2] }} {{ [0] * 2 }} {{ (1,) + (2,) }}", "",
     "ab abab xx [1, 2] [0, 0] (1, 2)"},
    {"{{ 'a' ~ 1 ~ none ~ true ~ 1.0 }}", "", "a1NoneTrue1.0"},
    {"{{ x ~ 'y' }}", "", "y"},
    {"{{ - 2 ** 2 }} {{ (-2) ** 2 }} {{ 2 ** 3 ** 2 }} {{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }}", "", "4 4 64 14 20"},
    {"{{ 1 == 1.0 }} {{ true == 1 }} {{ (1, 2) == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ 'a' != "
     "'b' }}",
     "", "True True False True True True"},
    {"{{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 2 >= 2 }} {{ 1.5 <= 1 }}", "",
     "True True True False True False"},
    {"{{ 1 in [1, 2] }} {{ 'b' in 'abc' }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ '' in 'x' }}", "",
     "True True True True True"},
    {"{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or '' or 'z' }} {{ not 0 }} {{ not [1] }} {{ [] or {} }}", "",
     "2 0 z True False {}"},
    {"{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} [{{ 'y' if 0 }}] {{ 'a' if 0 else 'b' if 1 else 'c' }}", "",
     "y n [] b"},
    {"{{ 'abcdef'[1:4] }} {{ 'abcdef'[::2] }} {{ 'abc'[::-1] }} {{ [1, 2, 3][-2:] }} {{ [1, 2, 3][:-1] }} {{ "
     "'héllo'[1:3] }} {{ [1, 2, 3][5:] }}",
     "", "bcd ace cba [2, 3] [1, 2] él []"},
    {"{{ 'abc'[0] }} {{ 'abc'[-1] }} {{ [10, 20].1 }} {{ d.a }} {{ d['a'] }} {{ d.b.c }}",
     "{'d': {'a': 1, 'b': {'c': 'x'}}}", "a c 20 1 1 x"},
    {"{{ '%s-%d-%05.1f-%x-%r' % ('a', 3, 2.25, 255, 'q') }} {{ '%(k)s' % {'k': 1} }} {{ '%d%%' % 5 }} {{ '%-4s|' % "
     "'ab' }}",
     "", "a-3-002.2-ff-'q' 1 5% ab  |"},
};

static const case_t statements_cases[] = {
    {"{% if a %}A{% elif b %}B{% else %}C{% endif %}", "{'b': 1}", "B"},
    {"{% if 0 %}A{% elif 0 %}B{% else %}C{% endif %}", "", "C"},
    {"{% for x in [1, 2, 3] %}{{ x }}{% else %}none{% endfor %}|{% for x in [] %}{{ x }}{% else %}none{% endfor %}", "",
     "123|none"},
    {"{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}:{{ x }} {% endfor %}", "", "1:2 2:4 "},
    {"{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "", "a=1;b=2;"},
    {"{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}{% for c in 'hé' %}[{{ c }}]{% endfor %}", "", "ba[h][é]"},
    {"{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", "", "123"},
    {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% "
     "endfor %}",
     "", "0134"},
    {"{% for x in [1, 2] %}{{ x }}{% break %}{% else %}E{% endfor %}|{% for x in [1, 2] %}{% continue %}{% else %}E{% "
     "endfor %}|{% for x in [1, 2] %}{{ x }}{% if x == 2 %}{% continue %}{% endif %}{% else %}E{% endfor %}",
     "", "1E|E|12"},
    {"{% filter upper %}a{% endfilter %}", "", "A"},
    {"{% for x in 'ab' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ "
     "loop.last }}{{ loop.length }};{% endfor %}",
     "", "1021TrueFalse2;2110FalseTrue2;"},
    {"{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}", "", "-2,1-3,2-,"},
    {"{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% if loop.changed(x > 1) %}!{% endif %}{% endfor %}", "",
     "a!b!a"},
    {"{% for a in [1, 2] %}{% for b in [3] %}{{ loop.index }}{{ a }}{% endfor %}{{ loop.index }}{% endfor %}", "",
     "111122"},
    {"{% for i in t recursive %}{{ i.n }}{% if i.c %}({{ loop(i.c) }}){% endif %}{% endfor %}",
     "{'t': [{'n': 'a', 'c': [{'n': 'b'}, {'n': 'c', 'c': [{'n': 'd'}]}]}, {'n': 'e'}]}", "a(bc(d))e"},
    {"{% for i in t recursive %}{{ loop.depth }}{% if i.c %}{{ loop(i.c) }}{% endif %}{% endfor %}",
     "{'t': [{'c': [{'c': [{}]}]}]}", "123"},
    {"{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}", "", "15151"},
    {"{% if true %}{% set y = 2 %}{% endif %}{{ y }}", "", "2"},
    {"{% set ns = namespace(n=0, l=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.l = ns.l + [i] %}{% "
     "endfor %}{{ ns.n }} {{ ns.l }} {{ ns }}",
     "", "6 [0, 1, 2, 3] <Namespace {'n': 6, 'l': [0, 1, 2, 3]}>"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c[1] }}", "", "124"},
    {"{% set s %} block {{ 1 }} {% endset %}[{{ s }}]{% set t | upper | trim %} x {% endset %}[{{ t }}]", "",
     "[ block 1 ][X]"},
    {"{% set s %}{% set inner = 1 %}{% endset %}[{{ inner }}]", "", "[]"},
    {"{% filter upper %}hi {{ 'there' }}{% endfilter %}|{% filter replace('a', 'o') | title %}a cat{% endfilter %}", "",
     "HI THERE|O Cot"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "", "3[]"},
    {"{% macro g(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ g('Bob') }} {{ g('Al', "
     "greeting='Hi') }} {{ g(name='X') }}",
     "", "Hello, Bob! Hi, Al! Hello, X!"},
    {"{% macro m(a, b) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}", "", "[1|]"},
    {"{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}", "", "(1, 2){'k': 3}"},
    {"{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(4) }}", "", "4321"},
    {"{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}", "", "2"},
    {"{% macro m() %}[{{ y }}]{% endmacro %}{% for i in [1] %}{% set y = 3 %}{{ m() }}{% endfor %}", "", "[]"},
    {"{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", "", "<body>"},
    {"{% macro each(xs) %}{% for x in xs %}{{ caller(x) }};{% endfor %}{% endmacro %}{% call(v) each([1, 2]) %}v={{ v "
     "}}{% endcall %}",
     "", "v=1;v=2;"},
    {"{% macro m(a, b=1) %}x{% endmacro %}{{ m }} {{ m.name }} {{ m is callable }} {{ m.arguments }} {{ m.caller }}",
     "", "<Macro 'm'> m True ('a', 'b') False"},
    {"{% macro outer() %}[{% call inner() %}{{ caller() }}{% endcall %}]{% endmacro %}{% macro inner() %}<{{ caller() "
     "}}>{% endmacro %}{{ outer.caller }}",
     "", "True"},
    {"{% generation %}gen {{ 1 }}{% endgeneration %}", "", "gen 1"},
    {"{% block b %}in block{% endblock %}", "", "in block"},
    {"{% print 'p' ~ 1 %}", "", "p1"},
};

static const case_t tests_cases[] = {
    {"{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 1 is number }} {{ true is number }} {{ 1.0 is "
     "float }} {{ 1 is integer }} {{ true is integer }}",
     "", "False True True True True True True False"},
    {"{{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is sequence }} {{ {} is sequence }} {{ 1 is "
     "sequence }} {{ 'a' is iterable }} {{ 1 is iterable }}",
     "", "True True True True True False True False"},
    {"{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'a' is equalto 'a' }} {{ 2 "
     "is gt 1 }} {{ 2 is lessthan 1 }} {{ 1 is in [1] }} {{ 1 is ne 1 }}",
     "", "True True True False True True False True False"},
    {"{{ true is boolean }} {{ 1 is boolean }} {{ false is false }} {{ 0 is false }} {{ true is true }} {{ 'ABC' is "
     "upper }} {{ 'abc' is lower }} {{ 'aB' is lower }}",
     "", "True False True False True True True False"},
    {"{{ none is sameas none }} {{ x is callable }} {{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test "
     "}} {{ ('x'|e) is escaped }} {{ 'x' is escaped }}",
     "", "True True True True True True False"},
    {"{{ x is not defined }} {{ 1 is not string }} {{ not 1 is string }}", "", "True True True"},
};

static const case_t filters_cases[] = {
    {"{{ '  a b  '|trim }} {{ 'xxaxx'|trim('x') }} {{ 'abc'|upper }} {{ 'ABC'|lower }} {{ 'hello wORLD'|capitalize }}",
     "", "a b a ABC abc Hello world"},
    {"{{ 'hello world'|title }} {{ 'a-b c(d [e'|title }} {{ \"they're\"|title }}", "",
     "Hello World A-B C(D [E They're"},
    {"{{ 'hello'|replace('l', 'L') }} {{ 'hello'|replace('l', 'L', 1) }} {{ 'a b  c'|wordcount }} [{{ 'abc'|center(7) "
     "}}]",
     "", "heLLo heLlo 3 [  abc  ]"},
    {"{{ 'hello world foo bar baz'|truncate(12) }} {{ 'hello world foo bar baz'|truncate(12, true) }} {{ "
     "'short'|truncate(3, leeway=5) }}",
     "", "hello... hello wor... short"},
    {"{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('n', boolean=true) }} {{ "
     "0|default(5) }}",
     "", "d  d n 0"},
    {"{{ 3.7|int }} {{ '42'|int }} {{ '42.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(base=16) }} {{ ' 12 "
     "'|int }} {{ true|int }}",
     "", "3 42 42 0 7 26 12 1"},
    {"{{ '3.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ '1e3'|float }} {{ 'nan'|float }} {{ -3|abs }} {{ -2.5|abs }}",
     "", "3.5 0.0 3.0 1000.0 nan 3 2.5"},
    {"{{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ "
     "2.9|round(method='floor') }} {{ 3|round }} {{ 1234|round(-2) }}",
     "", "2.57 2.0 4.0 2.67 3.0 2.0 3 1200"},
    {"{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(1, blank=true) }}|{{ "
     "'a\\nb'|indent('> ') }}",
     "", "a\n    b\n\n    c|  a\n  b|a\n \n b|a\n> b"},
    {"{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', "
     "'c']|sort(case_sensitive=true) }}",
     "", "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b', 'c']"},
    {"{{ u|sort(attribute='age')|map(attribute='n')|join }} {{ u|sort(attribute='g,age')|map(attribute='n')|join }}",
     "{'u': [{'n': 'a', 'age': 3, 'g': 2}, {'n': 'b', 'age': 1, 'g': 2}, {'n': 'c', 'age': 2, 'g': 1}]}", "bca cba"},
    {"{{ [1, 2, 3]|sum }} {{ [1, 2, 3]|max }} {{ [1, 2, 3]|min }} {{ ['b', 'A']|max }} {{ [1, 1, 2, 1]|unique|list }} "
     "{{ ['a', 'A', 'b']|unique|list }} {{ []|max }}",
     "", "6 3 1 b [1, 2] ['a', 'b'] "},
    {"{{ [1, 2, 3]|join(', ') }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ [1, 2, 3]|length }} {{ 'hé'|length }} "
     "{{ {'a': 1}|count }} {{ []|first }}",
     "", "1, 2, 3 1 3 3 2 1 "},
    {"{{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ 'ab'|list }} {{ {'a': 1}|list }} {{ x|list }}", "",
     "[3, 2, 1] cba ['a', 'b'] ['a'] []"},
    {"{{ u|map(attribute='n')|join(',') }}|{{ u|selectattr('on')|map(attribute='n')|list }}|{{ "
     "u|rejectattr('on')|map(attribute='n')|list }}|{{ u|selectattr('n', 'equalto', 'b')|list|length }}",
     "{'u': [{'n': 'a', 'on': true}, {'n': 'b', 'on': false}]}", "a,b|['a']|['b']|1"},
    {"{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '']|select|list }} {{ "
     "['a', 'b']|map('upper')|list }} {{ [1.5]|map('round', 0, 'ceil')|list }}",
     "", "[1, 3] [2, 4] [1] ['A', 'B'] [2.0]"},
    {"{{ u|map(attribute='x', default='?')|join }} {{ none|map('upper')|list }} {{ none|selectattr('a')|list }}",
     "{'u': [{'x': 1}, {}]}", "1? [] []"},
    {"{% set g = [1, 2]|select %}{{ g|list }}{{ g|list }} {% if []|select %}truthy{% endif %}", "", "[1, 2][] truthy"},
    {"{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'A': "
     "2}|dictsort(reverse=true) }} {{ {'a': 1}|items|list }}",
     "", "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] [('b', 1), ('A', 2)] [('a', 1)]"},
    {"{{ [1, 2, 3]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3, 4, 5]|slice(2)|list }}", "",
     "[[1, 2], [3]] [[1, 2], [3, 0]] [[1, 2, 3], [4, 5]]"},
    {"{% for g in u|groupby('k') %}{{ g.grouper }}:{{ g.list|map(attribute='v')|join }};{% endfor %}",
     "{'u': [{'k': 'b', 'v': 1}, {'k': 'a', 'v': 2}, {'k': 'b', 'v': 3}]}", "a:2;b:13;"},
    {"{{ '<a href=\"x\">'|e }} {{ '<b>'|safe }} {{ '<i>'|escape|length }} {{ 'a<b>c'|striptags }} {{ 'a b/c'|urlencode "
     "}} {{ {'k': 'v w'}|urlencode }}",
     "", "&lt;a href=&#34;x&#34;&gt; <b> 9 ac a%20b/c k=v+w"},
    {"{{ '%s=%s'|format('a', 1) }} {{ d|attr('items') is callable }} {{ d|attr('k') }} {{ [1, [2]]|pprint }} {{ "
     "12345|filesizeformat }} {{ 1|string ~ 2 }}",
     "{'d': {'k': 'v'}}", "a=1 True  [1, [2]] 12.3 kB 12"},
};

static const case_t methods_cases[] = {
    {"{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'a-b'.lstrip('a') "
     "}}",
     "", "a b|a|a|a|-b"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  "
     "a b  '.split(none, 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}",
     "", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a,b', 'c'] ['a', 'b  '] ['l1', 'l2', 'l3']"},
    {"{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('b', 1) }} {{ 'Hello "
     "World'.upper() }} {{ 'Hello'.lower() }} {{ 'hello wORLD'.title() }} {{ \"it's 1st\".title() }} {{ "
     "'aBc'.swapcase() }}",
     "", "True True True HELLO WORLD hello Hello World It'S 1St AbC"},
    {"{{ 'aXbX'.replace('X', '-') }} {{ 'aXbX'.replace('X', '-', 1) }} {{ 'ab'.replace('', '.') }} {{ '-'.join(['a', "
     "'b']) }} {{ 'abc'.capitalize() }}",
     "", "a-b- a-bX .a.b. a-b Abc"},
    {"{{ 'abcabc'.find('c') }} {{ 'abcabc'.rfind('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.count('a') }} {{ "
     "'héllo'.find('l') }} {{ 'abcabc'.index('b', 2) }}",
     "", "2 5 -1 2 2 4"},
    {"{{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'a1'.isalnum() }} {{ ' '.isspace() }} {{ 'AB'.isupper() }} {{ "
     "''.isdigit() }}",
     "", "True True True True True False"},
    {"{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ '5'.zfill(3) }} {{ '-5'.zfill(3) }} [{{ "
     "'a'.ljust(3) }}] [{{ 'a'.rjust(3, '*') }}] [{{ 'ab'.center(6, '.') }}]",
     "", "('a', '=', 'b=c') ('a=b', '=', 'c') 005 -05 [a  ] [**a] [..ab..]"},
    {"{{ 'pre_x'.removeprefix('pre_') }} {{ 'x.txt'.removesuffix('.txt') }} {{ '{} and {}'.format(1, 'b') }} {{ "
     "'{0}{0}'.format('x') }} {{ '{n}:{n!r}'.format(n='v') }} {{ '{:>4}|{:<3}|'.format('a', 'b') }}",
     "", "x x 1 and b xx v:'v'    a|b  |"},
    {"{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list }} {{ "
     "d.items()|list }} {{ d.copy() == d }}",
     "{'d': {'a': 1, 'b': 2}}", "1 None dflt ['a', 'b'] [1, 2] [('a', 1), ('b', 2)] True"},
    {"{{ [1, 2, 1].count(1) }} {{ [1, 2, 3].index(2) }} {{ (1, 2).index(2) }}", "", "2 1 1"},
    {"{{ '{:.2f}|{:,}|{:>6}|{:x}|{:08.3f}|{:+d}|{:.1%}|{:*^7}'.format(3.14159, 1234567, 'ab', 255, -2.5, 5, 0.256, "
     "'mid') }}",
     "", "3.14|1,234,567|    ab|ff|-002.500|+5|25.6%|**mid**"},
    {"{{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ d.keys() is sequence }} {{ d.keys()|list }} [{{ d.keys()[0] "
     "}}]",
     "{'d': {'a': 1, 'b': 2}}",
     "dict_keys(['a', 'b']) dict_values([1, 2]) dict_items([('a', 1), ('b', 2)]) False ['a', 'b'] []"},
    {"{{ d.items is callable }} {{ d['items'] }} {{ d.items()|list }}", "{'d': {'items': 'key'}}",
     "True key [('items', 'key')]"},
};

static const case_t tojson_cases[] = {
    {"{{ {'a': 1, 'b': [1, 2.5, none, true, 'x']}|tojson }}", "", "{\"a\": 1, \"b\": [1, 2.5, null, true, \"x\"]}"},
    {"{{ {'a': 1, 'b': [1, {}]}|tojson(indent=2) }}", "", "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    {}\n  ]\n}"},
    {"{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }} {{ {'a': "
     "[1]}|tojson(indent='\\t') }}",
     "", "{\"a\": 2, \"b\": 1} [1,2] {\n\t\"a\": [\n\t\t1\n\t]\n}"},
    {"{{ 'é\"\\\\\\n\\t\\x01'|tojson }} {{ 'é🚀'|tojson(ensure_ascii=true) }} {{ {1: 'a', 2.5: 'b', true: 'c', none: "
     "'d'}|tojson }}",
     "", "\"é\\\"\\\\\\n\\t\\u0001\" \"\\u00e9\\ud83d\\ude80\" {\"1\": \"c\", \"2.5\": \"b\", \"null\": \"d\"}"},
    {"{{ (1, 2)|tojson }} {{ 1e16|tojson }} {{ 0.5|tojson }} {{ ('<b>'|safe)|tojson }} {{ m|tojson }}",
     "{'m': [{'role': 'user', 'content': 'hi'}]}",
     "[1, 2] 1e+16 0.5 \"<b>\" [{\"role\": \"user\", \"content\": \"hi\"}]"},
};

static const case_t undefined_cases[] = {
    {"[{{ x }}] {{ x is defined }} {{ x|length }} {{ x|list }} {{ x|string }} {{ x|upper }} {{ not x }} {{ x == y }} "
     "{{ 'a' in x }} {{ x ~ '!' }}",
     "", "[] False 0 []   True True False !"},
    {"{% for i in x %}never{% else %}empty{% endfor %} {{ x|default(1) }} {{ x|join }}{{ x|first }}{{ x|trim }} {{ [x] "
     "}}",
     "", "empty 1  [Undefined]"},
    {"[{{ d.missing }}] {{ d.missing is defined }} {{ d['missing'] is defined }} {{ d.k is defined }} [{{ [1][5] }}] "
     "[{{ none.x }}]",
     "{'d': {'k': 1}}", "[] False False True [] []"},
};

static const case_t markup_cases[] = {
    {"{{ ('<b>'|safe) + '<i>' }} {{ '<i>' + ('<b>'|safe) }} {{ ('<b>'|safe) ~ '<i>' }} {{ ('&'|safe)|upper }} {{ "
     "['<'|safe] }}",
     "", "<b>&lt;i&gt; &lt;i&gt;<b> <b><i> & [Markup('<')]"},
    {"{{ ('<'|safe).replace('<', '>') }} {{ ('x%s'|safe) % '<' }} {{ ('a'|safe) * 2 }} {{ ('-'|safe).join(['<', 'b']) "
     "}}",
     "", "&gt; x&lt; aa &lt;-b"},
    {"{{ \"Use '\"|safe + t.name + \"'\"|safe + t|tojson }}", "{'t': {'name': 'a<b'}}",
     "Use 'a&lt;b'{&#34;name&#34;: &#34;a&lt;b&#34;}"},
};

static const case_t globals_cases[] = {
    {"{{ range(4)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}", "",
     "[0, 1, 2, 3] [1, 4, 7] [5, 3, 1] []"},
    {"{{ dict(a=1, b=2) }} {{ namespace(a=1).a }} {{ namespace({'k': 2}).k }}", "", "{'a': 1, 'b': 2} 1 2"},
    {"{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %B %Y, %A') }} {{ strftime_now('%b %-d') }}", "",
     "2026-11-26 00:00:00 26 November 2026, Thursday Nov 26"},
    {"{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('+') "
     "%}{{ j() }}x{{ j() }}y",
     "", "ababx+y"},
};

static const err_case_t error_cases[] = {
    {"{{ raise_exception('System role not supported') }}", "", "System role not supported"},
    {"{{ x.y }}", "", "'x' is undefined"},
    {"{{ d.missing.x }}", "{'d': {}}", "'dict object' has no attribute 'missing'"},
    {"{{ x + 1 }}", "", "'x' is undefined"},
    {"{{ x() }}", "", "'x' is undefined"},
    {"{{ x|tojson }}", "", "Object of type Undefined is not JSON serializable"},
    {"{{ [1]|map('string')|tojson }}", "", "Object of type generator is not JSON serializable"},
    {"{% set l = [] %}{{ l.append(1) }}", "", "access to attribute 'append' of 'list' object is unsafe."},
    {"{{ {}.update({}) }}", "", "access to attribute 'update' of 'dict' object is unsafe."},
    {"{{ ''.__class__ }}{{ ''.__class__() }}", "", "unsafe"},
    {"{{ 'a' + 1 }}", "", "can only concatenate str (not \"int\") to str"},
    {"{{ 1 + 'a' }}", "", "unsupported operand type(s) for +: 'int' and 'str'"},
    {"{{ 1 / 0 }}", "", "division by zero"},
    {"{{ 1 < 'a' }}", "", "'<' not supported between instances of 'int' and 'str'"},
    {"{% for x in 5 %}{% endfor %}", "", "'int' object is not iterable"},
    {"{% for a, b in [[1, 2, 3]] %}{% endfor %}", "", "too many values to unpack (expected 2)"},
    {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "", "macro 'm' takes not more than 1 argument(s)"},
    {"{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", "", "macro 'm' takes no keyword argument 'b'"},
    {"{% set x = 1 %}{% set x.a = 2 %}", "", "cannot assign attribute on non-namespace object"},
    {"{{ range(200000)|length }}", "", "Range too big"},
    {"{{ 'a' in 1 }}", "", "argument of type 'int' is not iterable"},
    {"{{ d.keys()|tojson }}", "{'d': {'a': 1}}", "Object of type dict_keys is not JSON serializable"},
    {"{% filter length %}abc{% endfilter %}", "", "expected str instance, int found"},
    {"{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}", "", "No caller defined"},
    {"{% macro m() %}x{% endmacro %}{% call m() %}y{% endcall %}", "",
     "invoked with two values for the special caller argument"},
    {"{{ '{:d}'.format('a') }}", "", "Unknown format code 'd' for object of type 'str'"},
    {"{% if false %}{% else %}{{ x|from_json }}{% endif %}", "", "No filter named 'from_json' found."},
    {"{{ 1 in 'a' }}", "", "'in <string>' requires string as left operand, not int"},
};

static const syntax_case_t syntax_cases[] = {
    {"{% if x %}", "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'",
     1},
    {"{% if x %}\n{% endfor %}", "Encountered unknown tag 'endfor'", 2},
    {"a\nb\n{{ x | nosuchfilter }}", "No filter named 'nosuchfilter'.", 3},
    {"{{ x is nosuchtest }}", "No test named 'nosuchtest'.", 1},
    {"{% do x %}", "Encountered unknown tag 'do'.", 1},
    {"{{ 'unterminated }}", "unexpected end of string literal", 1},
    {"{{ (1 }}", "expected ')'", 1},
    {"{{ 1 + }}", "unexpected 'end of print statement'", 1},
    {"\n\n{% set 1 = 2 %}", "expected a name to assign to", 3},
    {"{% break %}", "'break' outside of a loop", 1},
    {"{% macro m(a=1, b) %}{% endmacro %}", "non-default argument follows default argument", 1},
    {"{{ x is defined if true else 2 }}", "expected end of print statement", 1},
    {"{# open comment", "missing end of comment tag", 1},
    {"{% include 'x' %}", "not supported", 1},
    {"{{ }}", "Expected an expression", 1},
    {"{% for m in x %}\n{{ m|from_json }}{% endfor %}", "No filter named 'from_json'.", 2},
};

static void test_whitespace(void **state) { RUN(whitespace); }
static void test_literals(void **state) { RUN(literals); }
static void test_operators(void **state) { RUN(operators); }
static void test_statements(void **state) { RUN(statements); }
static void test_tests(void **state) { RUN(tests); }
static void test_filters(void **state) { RUN(filters); }
static void test_methods(void **state) { RUN(methods); }
static void test_tojson(void **state) { RUN(tojson); }
static void test_undefined(void **state) { RUN(undefined); }
static void test_markup(void **state) { RUN(markup); }
static void test_globals(void **state) { RUN(globals); }

/* Runtime errors: the render fails with ERR_TEMPLATE and Jinja2's message, naming the template line. */
static void test_runtime_errors(void **state) {
    int failures = 0;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        char err[512] = "", *out = NULL;
        size_t len;
        const err_case_t *c = &error_cases[i];
        int rc = render(c->tpl, strlen(c->tpl), c->ctx, NULL, &out, &len, err, sizeof(err));
        if (rc == 0 || out != NULL || !strstr(err, c->msg) || !strstr(err, "(template line 1)")) {
            failures++;
            print_error("error[%zu] %s: rc %d, message '%s', want '%s'\n", i, c->tpl, rc, err, c->msg);
        }
        free(out);
    }
    assert_int_equal(failures, 0);
}

/* Syntax errors are reported by tmpl_compile with the line they are on. */
static void test_syntax_errors(void **state) {
    int failures = 0;
    for (size_t i = 0; i < sizeof(syntax_cases) / sizeof(syntax_cases[0]); i++) {
        const syntax_case_t *c = &syntax_cases[i];
        char err[512] = "", line[64];
        tmpl_t *t = (tmpl_t *)1;
        int rc = tmpl_compile(c->tpl, strlen(c->tpl), &t, err, sizeof(err));
        snprintf(line, sizeof(line), "(template line %d)", c->line);
        if (rc != ERR_TEMPLATE || t != NULL || !strstr(err, c->msg) || !strstr(err, line)) {
            failures++;
            print_error("syntax[%zu] %s: rc %d, message '%s', want '%s' %s\n", i, c->tpl, rc, err, c->msg, line);
        }
        tmpl_free(t);
    }
    assert_int_equal(failures, 0);
}

/* A chat-shaped render: the way the server calls the engine. */
static const char *chatml =
    "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] | trim + '<|im_end|>\\n' }}"
    "{%- endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

static void test_chat_render(void **state) {
    char err[256], *out;
    size_t len;
    const char *ctx = "{'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': ' Hi '}],"
                      " 'add_generation_prompt': true}";
    assert_int_equal(render(chatml, strlen(chatml), ctx, NULL, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                             "<|im_start|>assistant\n");
    assert_int_equal(len, strlen(out));
    free(out);
}

/* A template that refuses a role fails with its own message and the line of the raise. */
static void test_raise_line(void **state) {
    const char *tpl = "{%- for m in messages %}\n{%- if m.role == 'system' %}\n"
                      "{{- raise_exception('System role not supported') }}\n{%- endif %}{% endfor %}";
    char err[256], *out;
    size_t len;
    int rc = render(tpl, strlen(tpl), "{'messages': [{'role': 'system', 'content': 'x'}]}", NULL, &out, &len, err,
                    sizeof(err));
    assert_int_equal(rc, ERR_TEMPLATE);
    assert_null(out);
    assert_string_equal(err, "System role not supported (template line 3)");
}

static int render_limited(const char *tpl, size_t max_out, size_t max_alloc, uint64_t max_steps, int max_depth,
                          char *err, size_t err_len) {
    tmpl_render_opts_t o;
    tmpl_render_opts_default(&o);
    if (max_out) o.max_output_bytes = max_out;
    if (max_alloc) o.max_alloc_bytes = max_alloc;
    if (max_steps) o.max_steps = max_steps;
    if (max_depth) o.max_depth = max_depth;
    char *out;
    size_t len;
    int rc = render(tpl, strlen(tpl), NULL, &o, &out, &len, err, err_len);
    free(out);
    return rc;
}

/* Each bound in tmpl_render_opts_t stops a runaway template with ERR_LIMIT. */
static void test_limits(void **state) {
    char err[256];
    assert_int_equal(
        render_limited("{% for i in range(1000) %}0123456789{% endfor %}", 5000, 0, 0, 0, err, sizeof(err)), ERR_LIMIT);
    assert_int_equal(
        render_limited("{% for i in range(1000) %}0123456789{% endfor %}", 20000, 0, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(render_limited("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                                    0, 0, 20000, 0, err, sizeof(err)),
                     ERR_LIMIT);
    assert_int_equal(render_limited("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}", 0, 0, 0, 50, err, sizeof(err)),
                     ERR_LIMIT);
    assert_non_null(strstr(err, "recursion"));
    assert_int_equal(
        render_limited("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}",
                       1 << 20, 0, 0, 0, err, sizeof(err)),
        ERR_LIMIT);
    assert_int_equal(render_limited("{% set ns = namespace(s='') %}{% for i in range(20000) %}"
                                    "{% set ns.s = ns.s ~ '0123456789' %}{% endfor %}",
                                    0, 1 << 20, 0, 0, err, sizeof(err)),
                     ERR_LIMIT);
    assert_int_equal(render_limited("{{ 'ab' * 100000000 }}", 1 << 20, 0, 0, 0, err, sizeof(err)), ERR_LIMIT);
    assert_int_equal(render_limited("{{ range(1000000)|list|length }}", 0, 0, 0, 0, err, sizeof(err)), ERR_LIMIT);
}

/* Deep nesting: the parser refuses it; values built deep are freed without recursion and refused by printing. */
static void test_nesting(void **state) {
    char err[256];
    size_t n = 2000;
    char *deep = malloc(2 * n + 8);
    assert_non_null(deep);
    memcpy(deep, "{{ ", 3);
    memset(deep + 3, '(', n);
    deep[3 + n] = '1';
    memset(deep + 4 + n, ')', n);
    memcpy(deep + 4 + 2 * n, " }}", 4);
    tmpl_t *t;
    assert_int_equal(tmpl_compile(deep, strlen(deep), &t, err, sizeof(err)), ERR_TEMPLATE);
    free(deep);
    const char *build = "{% set ns = namespace(l=[]) %}{% for i in range(30000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                        "{{ ns.l|length }}";
    char *out;
    size_t len;
    assert_int_equal(render(build, strlen(build), NULL, NULL, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(out, "1");
    free(out);
    const char *print = "{% set ns = namespace(l=[]) %}{% for i in range(30000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                        "{{ ns.l }}";
    assert_int_equal(render(print, strlen(print), NULL, NULL, &out, &len, err, sizeof(err)), ERR_LIMIT);
    /* a namespace holding itself: the cycle is broken when the render ends (ASan checks for the leak) */
    const char *cyc = "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me.me is defined }}";
    assert_int_equal(render(cyc, strlen(cyc), NULL, NULL, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(out, "True");
    free(out);
}

static void test_api_contracts(void **state) {
    char err[256], *out = (char *)1;
    size_t len = 99;
    tmpl_t *t = NULL;
    tmpl_free(NULL);
    assert_int_equal(tmpl_compile("x", 1, NULL, err, sizeof(err)), ERR_INVAL);
    assert_int_equal(tmpl_compile("a\0b{{ 1 }}", 10, &t, err, sizeof(err)), 0);
    assert_int_equal(tmpl_render(t, NULL, NULL, &out, &len, err, sizeof(err)), 0); /* NULL context and opts */
    assert_int_equal(len, 4);
    assert_memory_equal(out, "a\0b1", 4);
    free(out);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(tmpl_render(t, arr, NULL, &out, &len, err, sizeof(err)), ERR_INVAL);
    assert_null(out);
    cJSON_Delete(arr);
    assert_int_equal(tmpl_render(NULL, NULL, NULL, &out, &len, err, sizeof(err)), ERR_INVAL);
    tmpl_free(t);
    /* an empty template renders to an empty string */
    assert_int_equal(tmpl_compile("", 0, &t, err, sizeof(err)), 0);
    assert_int_equal(tmpl_render(t, NULL, NULL, &out, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    tmpl_free(t);
    size_t big = TMPL_MAX_SOURCE_BYTES + 1;
    char *src = malloc(big);
    assert_non_null(src);
    memset(src, 'x', big);
    assert_int_equal(tmpl_compile(src, big, &t, err, sizeof(err)), ERR_RANGE);
    assert_null(t);
    free(src);
    /* the error buffer may be absent */
    assert_int_equal(tmpl_compile("{% if %}", 8, &t, NULL, 0), ERR_TEMPLATE);
}

typedef struct {
    const tmpl_t *t;
    const cJSON *ctx;
    const char *want;
    int failures;
} thread_arg_t;

static void *render_many(void *p) {
    thread_arg_t *a = p;
    for (int i = 0; i < 200; i++) {
        char *out = NULL, err[128];
        size_t len;
        if (tmpl_render(a->t, a->ctx, NULL, &out, &len, err, sizeof(err)) != 0 || strcmp(out, a->want) != 0)
            a->failures++;
        free(out);
    }
    return NULL;
}

/* One compiled template rendered from several threads at once gives the same output everywhere. */
static void test_threads(void **state) {
    tmpl_t *t;
    char err[256];
    assert_int_equal(tmpl_compile(chatml, strlen(chatml), &t, err, sizeof(err)), 0);
    cJSON *ctx = parse_ctx("{'messages': [{'role': 'user', 'content': 'Hello'}], 'add_generation_prompt': true}");
    const char *want = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    thread_arg_t args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg_t){.t = t, .ctx = ctx, .want = want};
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    cJSON_Delete(ctx);
    tmpl_free(t);
}

/* Mutations of real template fragments must render or fail cleanly — never crash (run under ASan/UBSan). */
static void test_no_crash_sweep(void **state) {
    static const char *const pieces[] = {
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "-",
        "+",
        " ",
        "\n",
        "if",
        "for",
        "x",
        "in",
        "endif",
        "endfor",
        "else",
        "set",
        "=",
        "ns.a",
        "namespace(a=1)",
        "macro",
        "m()",
        "endmacro",
        "'s'",
        "1",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        ":",
        "|",
        "tojson",
        "trim",
        "map('upper')",
        "is",
        "defined",
        "not",
        "and",
        "~",
        "*",
        "**",
        "//",
        "%",
        ".",
        "messages",
        "loop.index",
        "raise_exception('e')",
        "call",
        "caller()",
        "endcall",
        "filter",
        "upper",
        "endfilter",
        "break",
        "continue",
        "raw",
        "endraw",
        "items()",
        "[1:2]",
        "none",
        "1e9",
        "'\\u00e9'",
    };
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    cJSON *ctx = parse_ctx("{'messages': [{'role': 'user', 'content': 'hi'}], 'x': [1, 2]}");
    tmpl_render_opts_t o;
    tmpl_render_opts_default(&o);
    o.max_steps = 5000;
    o.max_output_bytes = 1 << 16;
    o.max_alloc_bytes = 1 << 22;
    uint64_t seed = 88172645463325252ull;
    int rendered = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char src[512];
        size_t n = 0;
        int count = 1 + (int)(seed % 24);
        for (int k = 0; k < count; k++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            const char *p = pieces[seed % np];
            size_t pl = strlen(p);
            if (n + pl >= sizeof(src)) break;
            memcpy(src + n, p, pl);
            n += pl;
        }
        tmpl_t *t = NULL;
        char err[256], *out = NULL;
        size_t len;
        if (tmpl_compile(src, n, &t, err, sizeof(err)) == 0) {
            if (tmpl_render(t, ctx, &o, &out, &len, err, sizeof(err)) == 0) rendered++;
            free(out);
        }
        tmpl_free(t);
    }
    cJSON_Delete(ctx);
    assert_true(rendered > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whitespace),    cmocka_unit_test(test_literals),
        cmocka_unit_test(test_operators),     cmocka_unit_test(test_statements),
        cmocka_unit_test(test_tests),         cmocka_unit_test(test_filters),
        cmocka_unit_test(test_methods),       cmocka_unit_test(test_tojson),
        cmocka_unit_test(test_undefined),     cmocka_unit_test(test_markup),
        cmocka_unit_test(test_globals),       cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_chat_render),
        cmocka_unit_test(test_raise_line),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_nesting),       cmocka_unit_test(test_api_contracts),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_no_crash_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
