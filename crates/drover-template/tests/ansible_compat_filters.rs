//! One batched ansible-playbook run compares a table of filter, test, lookup, value-templating
//! and `when:` behaviours with drover's. The expected values are also written down in
//! `fixtures/filters_expected.json` (recorded from ansible-core 2.18.19) so the comparison runs
//! offline too.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::Path;

use common::{JSON_QUERY_PLUGIN, ansible_bin_dir, missing, python_has, run_playbook};
use drover_template::{Condition, Templar, Vars};
use serde_json::{Map, Value, json};

/// Expressions templated as variable values (`{{ ... }}` unless the case is a full string).
const CASES: &[(&str, &str)] = &[
    ("to_nice_json", "{{ d | to_nice_json }}"),
    ("to_json", "{{ d | to_json }}"),
    ("to_json_unicode", "{{ 'héllo' | to_json }}"),
    ("to_nice_yaml", "{{ d | to_nice_yaml }}"),
    ("to_nice_yaml_list", "{{ users | to_nice_yaml }}"),
    ("to_yaml", "{{ d | to_yaml }}"),
    ("to_yaml_scalar", "{{ 'abc' | to_yaml }}"),
    ("to_yaml_bool_string", "{{ 'yes' | to_yaml }}"),
    ("to_yaml_long_list", "{{ long_list | to_yaml }}"),
    ("to_yaml_specials", "{{ specials | to_yaml }}"),
    ("to_yaml_multiline", "{{ {'script': multi} | to_yaml }}"),
    (
        "to_nice_yaml_multiline",
        "{{ {'script': multi, 'long': long_text} | to_nice_yaml }}",
    ),
    ("bool_no", "{{ 'no' | bool }}"),
    ("bool_yes", "{{ 'yes' | bool }}"),
    ("bool_off", "{{ 'off' | bool }}"),
    ("bool_one", "{{ 1 | bool }}"),
    ("bool_str_one", "{{ '1' | bool }}"),
    ("bool_TRUE", "{{ 'TRUE' | bool }}"),
    ("bool_two", "{{ 2 | bool }}"),
    ("default_undefined", "{{ nope | default('d') }}"),
    ("default_empty", "{{ '' | default('d') }}"),
    ("default_empty_bool", "{{ '' | default('d', true) }}"),
    ("default_none", "{{ none_var | default('d') }}"),
    ("d_zero_bool", "{{ 0 | d(5, true) }}"),
    ("combine", "{{ d | combine(d2) }}"),
    ("combine_recursive", "{{ d | combine(d2, recursive=true) }}"),
    (
        "combine_append",
        "{{ d | combine(d2, list_merge='append') }}",
    ),
    ("combine_list", "{{ [d, d2] | combine }}"),
    ("int_08", "{{ '08' | int }}"),
    ("int_hex", "{{ '0x1A' | int(base=16) }}"),
    ("int_float_str", "{{ '4.7' | int }}"),
    ("int_bad", "{{ 'abc' | int }}"),
    ("int_true", "{{ true | int }}"),
    ("int_sum", "{{ '08' | int + 1 }}"),
    ("float_str", "{{ '1.5' | float }}"),
    ("float_int", "{{ 3 | float }}"),
    ("string_int", "{{ 5 | string }}"),
    ("string_none", "{{ none_var | string }}"),
    ("string_list", "{{ [1, 'a'] | string }}"),
    (
        "regex_replace_backrefs",
        "{{ 'pg-test-1' | regex_replace('^(.*)-(\\d+)$', '\\2:\\1') }}",
    ),
    (
        "regex_replace_named",
        "{{ 'ab' | regex_replace('(?P<x>a)', '\\g<x>\\g<x>') }}",
    ),
    (
        "regex_replace_count",
        "{{ 'a.b.c' | regex_replace('\\.', '/', count=1) }}",
    ),
    ("regex_search", "{{ 'pg14.2' | regex_search('\\d+') }}"),
    (
        "regex_search_groups",
        "{{ 'pg14.2' | regex_search('(\\d+)\\.(\\d+)', '\\2', '\\1') }}",
    ),
    ("regex_search_none", "{{ 'x' | regex_search('\\d') }}"),
    ("regex_findall", "{{ 'a1b22' | regex_findall('\\d+') }}"),
    ("regex_escape", "{{ '1.2*[x]' | regex_escape }}"),
    ("quote", "{{ \"it's a test\" | quote }}"),
    ("quote_safe", "{{ 'safe-1.2/x' | quote }}"),
    ("quote_empty", "{{ '' | quote }}"),
    (
        "urlencode_str",
        "{{ 'DBUser.Monitor a/b c&d=e~f:g@h\u{e9}' | urlencode }}",
    ),
    ("urlencode_dict", "{{ {'a b': 'c/d', 'n': 5} | urlencode }}"),
    (
        "urlencode_pairs",
        "{{ [['k', 'v w'], ['x', true]] | urlencode }}",
    ),
    ("urlencode_int", "{{ 42 | urlencode }}"),
    ("hash_sha1", "{{ 'abc' | hash('sha1') }}"),
    ("hash_sha256", "{{ 'abc' | hash('sha256') }}"),
    ("md5", "{{ 'abc' | md5 }}"),
    ("checksum", "{{ 'abc' | checksum }}"),
    ("b64encode", "{{ 'consul:é' | b64encode }}"),
    ("b64decode", "{{ 'Y29uc3Vs' | b64decode }}"),
    ("round_half", "{{ 2.5 | round }}"),
    ("round_half_odd", "{{ 3.5 | round }}"),
    ("round_2", "{{ 2.675 | round(2) }}"),
    ("round_int", "{{ 3 | round }}"),
    ("round_floor", "{{ 3.14159 | round(3, 'floor') }}"),
    ("round_ceil", "{{ 3.14159 | round(1, 'ceil') }}"),
    ("version_ge", "{{ '14.2' is version('14', '>=') }}"),
    ("version_gt", "{{ '1.10' is version('1.9', 'gt') }}"),
    ("version_lt", "{{ '2.0' is version('2.0.0', '<') }}"),
    (
        "version_compare_eq",
        "{{ '1.0' is version_compare('1.0', '==') }}",
    ),
    ("ternary", "{{ true | ternary('a', 'b') }}"),
    ("ternary_none", "{{ none_var | ternary('a', 'b', 'n') }}"),
    ("ternary_none_2", "{{ none_var | ternary('a', 'b') }}"),
    ("unique", "{{ ['b', 'A', 'a', 'b'] | unique }}"),
    (
        "union_sorted",
        "{{ ['b', 'a'] | union(['c', 'a']) | sort }}",
    ),
    (
        "intersect_sorted",
        "{{ [3, 1, 2] | intersect([2, 3]) | sort }}",
    ),
    (
        "difference_sorted",
        "{{ ['x', 'y', 'z'] | difference(['y']) | sort }}",
    ),
    ("flatten", "{{ [1, [2, [3, none_var]], 'null'] | flatten }}"),
    ("flatten_1", "{{ [1, [2, [3]]] | flatten(1) }}"),
    ("dict2items", "{{ dcs_servers | dict2items }}"),
    (
        "extract_map",
        "{{ ['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list }}",
    ),
    (
        "extract_morekeys",
        "{{ ['x'] | map('extract', {'x': {'y': {'z': 5}}}, ['y', 'z']) | list }}",
    ),
    ("extract_one_key", "{{ 'meta-1' | extract(dcs_servers) }}"),
    ("from_yaml", "{{ yaml_text | from_yaml }}"),
    ("from_json", "{{ '{\"a\": [1, 2.5, null]}' | from_json }}"),
    ("vars_lookup", "{{ vars['ins'] }}"),
    ("vars_lookup_plugin", "{{ lookup('vars', 'ins') }}"),
    ("items2dict", "{{ dcs_servers | dict2items | items2dict }}"),
    (
        "sort_attribute",
        "{{ users | sort(attribute='pg_seq') | map(attribute='name') | list }}",
    ),
    ("sort_plain", "{{ ['b', 'C', 'a'] | sort }}"),
    ("sort_reverse", "{{ [3, 1, 2] | sort(reverse=true) }}"),
    (
        "selectattr",
        "{{ users | selectattr('role', 'equalto', 'replica') | map(attribute='name') | list }}",
    ),
    (
        "rejectattr",
        "{{ users | rejectattr('role', 'equalto', 'replica') | map(attribute='name') | list }}",
    ),
    (
        "select_match",
        "{{ ['pg-test', 'pg-meta', 'x'] | select('match', 'pg-') | list }}",
    ),
    (
        "reject_search",
        "{{ ['pg-test', 'pg-meta', 'x'] | reject('search', 'meta') | list }}",
    ),
    ("map_int", "{{ ['1', '2'] | map('int') | list }}"),
    ("join", "{{ ['a', 'b', 1] | join(',') }}"),
    ("length", "{{ users | length }}"),
    (
        "first_last",
        "{{ [users | first | json_query('name'), [1, 2, 3] | last] }}",
    ),
    (
        "min_max_sum",
        "{{ [[3, 1, 2] | min, [3, 1, 2] | max, [3, 1, 2] | sum] }}",
    ),
    (
        "json_query",
        "{{ users | json_query('[?pg_seq > `1`].name') }}",
    ),
    (
        "json_query_legacy_literal",
        "{{ users | json_query('[?role==`primary`].name') }}",
    ),
    (
        "json_query_hash",
        "{{ users | json_query('[*].{n: name, s: pg_seq}') }}",
    ),
    ("basename", "{{ '/etc/consul.d/consul.json' | basename }}"),
    ("dirname", "{{ '/etc/consul.d/consul.json' | dirname }}"),
    ("realpath", "{{ '/etc/../etc/hosts' | realpath }}"),
    ("test_match", "{{ 'abc' is match('b') }}"),
    ("test_search", "{{ 'abc' is search('b') }}"),
    ("test_changed", "{{ res is changed }}"),
    ("test_succeeded", "{{ res is succeeded }}"),
    ("test_success", "{{ res is success }}"),
    ("test_failed", "{{ res is failed }}"),
    ("test_skipped", "{{ res_skip is skipped }}"),
    ("test_defined", "{{ nope is defined }}"),
    ("test_undefined", "{{ nope is undefined }}"),
    ("test_none", "{{ none_var is none }}"),
    ("lookup_file", "{{ lookup('file', 'motd.txt') }}"),
    (
        "lookup_env_missing",
        "{{ lookup('env', 'DROVER_SURELY_UNSET_VAR') }}",
    ),
    ("lookup_template", "{{ lookup('template', 'small.j2') }}"),
    ("value_number_expr", "{{ 5 }}"),
    ("value_single_var_int", "{{ pport }}"),
    ("value_single_var_none", "{{ none_var }}"),
    ("value_none_concat", "{{ none_var }}x"),
    ("value_list", "{{ [1, 2] }}"),
    ("value_dict", "{{ {'a': 1, 'b': [true, none_var]} }}"),
    ("value_str_true", "{{ 'True' }}"),
    ("value_leading_space_list", " {{ [1] }}"),
    ("value_broken_list", "{{ '[1, 2' }}"),
    ("value_concat", "{{ pport }}{{ pport }}"),
    ("value_lazy", "{{ ins }}"),
    ("value_lazy_nested", "{{ nested.inner }}"),
    ("value_trailing_newlines", "{{ 'a' }}\n\n"),
    ("py_render_list", "x{{ [1, 'a', True, None, 1.5] }}"),
    ("py_render_dict", "x{{ {'a': 1.0, 'b': \"it's\"} }}"),
    (
        "py_division",
        "{{ 10 / 4 }} {{ 10 / 5 }} {{ 7 // 2 }} {{ 2 ** 10 }} {{ 7 % 3 }}",
    ),
    ("py_concat", "{{ 'a' ~ 1 ~ true }}"),
    (
        "py_floats",
        "{{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2.0 * 3 }} {{ 1.5e-7 }} {{ 123456789.0 * 10 }}",
    ),
    ("py_float_list", "x{{ [1e20, 0.5, 1e16, 1e15] }}"),
    ("py_big_int", "{{ 2 ** 62 }}"),
    ("py_repr_quotes", "x{{ reprs }}"),
    (
        "py_repr_nested",
        "x{{ {'k': [none_var, true, {'n': 1.0}], 2: 'two'} }}",
    ),
    (
        "py_bool_none_render",
        "{{ true }} {{ false }} {{ none_var }} {{ [none_var] }}",
    ),
    ("py_string_of_dict", "{{ d | string }}"),
    ("format_filter", "{{ '%s-%d' | format('pg', 1) }}"),
    ("dict_global", "{{ dict(a=1, b='x') }}"),
    ("range_list", "{{ range(3) | list }}"),
    (
        "loop_vars",
        "{% for x in [1, 2] %}{{ loop.index }}{{ loop.first }}{% endfor %}",
    ),
    (
        "namespace",
        "{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
    ),
    ("inline_if", "{{ 'a' if pport > 1 else 'b' }}"),
    (
        "in_operator",
        "{{ 'meta-1' in dcs_servers and 1 in [1, 2] }}",
    ),
    ("string_slice", "{{ 'pg-test'[3:] }}"),
    ("list_concat", "{{ [1] + [2] }}"),
    ("str_mult", "{{ '-' * 3 }}"),
    (
        "capitalize_title",
        "{{ 'pg test' | capitalize }} {{ 'pg test' | title }}",
    ),
    ("replace_filter", "{{ 'a-b-c' | replace('-', '_') }}"),
    (
        "trim_lower_upper",
        "{{ ' Ab ' | trim | lower }}{{ 'x' | upper }}",
    ),
    ("indent", "{{ multi | indent(4) }}"),
    ("dictsort", "{{ {'b': 1, 'a': 2} | dictsort }}"),
    ("items_filter", "{{ dcs_servers | items | list }}"),
    ("batch", "{{ [1, 2, 3] | batch(2) | list }}"),
    (
        "groupby",
        "{{ users | groupby('role') | map('first') | list }}",
    ),
    ("abs_filter", "{{ -3 | abs }}"),
    ("wordcount", "{{ 'a b c' | wordcount }}"),
    ("tojson", "{{ d | tojson }}"),
    ("list_of_str", "{{ 'abc' | list }}"),
    ("reverse", "{{ [1, 2, 3] | reverse | list }}"),
    ("sum_attr", "{{ users | sum(attribute='pg_seq') }}"),
    ("max_attr", "{{ (users | max(attribute='pg_seq')).name }}"),
    (
        "select_truthy",
        "{{ [1, none_var, 2, 0, ''] | select | list }}",
    ),
    ("map_upper", "{{ ['a'] | map('upper') | list }}"),
    ("zip", "{{ [1, 2] | zip(['a', 'b']) | list }}"),
    (
        "unique_attr",
        "{{ users | unique(attribute='role') | map(attribute='name') | list }}",
    ),
    ("length_str", "{{ 'abc' | length }} {{ [1, 2] | count }}"),
    ("first_str", "{{ 'abc' | first }}"),
    ("int_in_if", "{% if '3' | int > 2 %}big{% endif %}"),
    (
        "default_chain",
        "{{ nope | default(none_var) | default('z', true) }}",
    ),
    ("split_filter", "{{ 'a,b' | split(',') }}"),
    (
        "type_tests",
        "{{ 'a' is string }} {{ 1 is number }} {{ [1] is sequence }} {{ {} is mapping }} {{ 'a' is iterable }}",
    ),
    ("is_in", "{{ 1 is in [1, 2] }}"),
    (
        "select_equalto",
        "{{ [1, 2] | select('equalto', 2) | list }}",
    ),
    ("divisibleby", "{{ 4 is divisibleby 2 }}"),
    ("none_compare", "{{ none_var == None }}"),
    ("filter_precedence", "{{ 7 / 2 | int }}"),
    (
        "regex_replace_multiline",
        "{{ multi | regex_replace('^echo', 'ECHO', multiline=true) }}",
    ),
    ("string_concat_number", "{{ 'port:' ~ pport }}"),
    (
        "json_query_keys",
        "{{ dcs_servers | json_query('keys(@)') }}",
    ),
    ("combine_empty", "{{ {} | combine({'a': 1}) }}"),
    ("whitespace_control", "a {{- ' b ' -}} c"),
    ("str_split", "{{ 'a,b'.split(',') }}"),
    ("str_strip_upper", "{{ '  x '.strip().upper() }}"),
    ("str_format", "{{ '{}-{}'.format('pg', 1) }}"),
    ("str_startswith", "{{ 'pg-test'.startswith('pg') }}"),
    ("dict_items", "{{ dcs_servers.items() | list }}"),
    (
        "dict_keys_values",
        "{{ [dcs_servers.keys() | list, dcs_servers.values() | list] }}",
    ),
    ("dict_get", "{{ dcs_servers.get('zz', 'dflt') }}"),
];

/// `when:` conditions with the variables below; each is evaluated by a skipped-or-not task.
const WHENS: &[(&str, &str)] = &[
    ("w_string_off", "s_off"),
    ("w_string_no", "s_no"),
    ("w_string_empty", "s_empty"),
    ("w_string_false", "s_false"),
    ("w_templated_false", "t_false"),
    ("w_zero", "n0"),
    ("w_string_zero", "s_zero"),
    ("w_dict", "dcs_servers"),
    ("w_empty_list", "empty_list"),
    ("w_compare", "users | length > 2 and pport == 5"),
    ("w_defined", "nope is defined"),
    ("w_bool_filter", "s_no | bool"),
    ("w_not", "not s_empty"),
    ("w_in", "'meta-1' in dcs_servers"),
    ("w_moustache", "{{ pport == 5 }}"),
];

fn vars() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "d": {"b": 1, "a": [1, "x", null, true, 1.5], "c": {"p": 1, "q": "yes"}},
        "d2": {"c": {"q": "no", "r": 2}, "a": [2], "z": 0},
        "users": [
            {"name": "pg-test-2", "pg_seq": 2, "role": "replica"},
            {"name": "pg-test-1", "pg_seq": 1, "role": "primary"},
            {"name": "pg-test-3", "pg_seq": 3, "role": "replica"}
        ],
        "long_list": ["10.10.10.10:9100", "10.10.10.11:9100", "10.10.10.12:9100", "10.10.10.13:9100", "10.10.10.14:9100", "10.10.10.15:9100"],
        "specials": {"a": "x: y", "b": "#c", "c": "", "d": "1.5", "e": "null", "f": "-", "g": "it's", "h": "2021-04-19", "i": "0755", "j": "~", "k": " lead", "l": "tab\there", "m": "é"},
        "multi": "#!/bin/bash\necho hi\n",
        "long_text": "this is a rather long line of text that goes past the eighty column limit of the yaml emitter so it folds",
        "none_var": null,
        "yaml_text": "a: yes\nb: [1, 0755, '08', 1.5e3]\nc: ~\n",
        "reprs": ["it's", "a\"b", "tab\there", "nl\nx", "é", "back\\slash", "both'\"", "\u{7}"],
        "pport": 5,
        "dcs_servers": {"meta-1": "10.10.10.10", "meta-2": "10.10.10.11"},
        "res": {"changed": true, "failed": false},
        "res_skip": {"skipped": true, "changed": false},
        "pg_cluster": "pg-test",
        "pg_seq": 1,
        "ins": "{{ pg_cluster }}-{{ pg_seq }}",
        "nested": {"inner": "{{ ins }}!"},
        "s_off": "off",
        "s_no": "no",
        "s_empty": "",
        "s_false": "False",
        "s_zero": "0",
        "t_false": "{{ false }}",
        "n0": 0,
        "empty_list": []
    }) else {
        unreachable!()
    };
    m
}

const SMALL_TEMPLATE: &str = "cluster={{ pg_cluster }}\n";
const MOTD: &str = "hello from files\n\n";

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filters_expected.json")
}

fn write_support_files(dir: &Path) {
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("files/motd.txt"), MOTD).unwrap();
    std::fs::write(dir.join("templates/small.j2"), SMALL_TEMPLATE).unwrap();
}

/// What drover computes for every case, in the same shape as the Ansible run's output.
fn drover_results(dir: &Path) -> Map<String, Value> {
    let templar = Templar::default();
    let vars = Vars::new(vars()).with_search_paths(vec![dir.to_path_buf()]);
    let mut out = Map::new();
    for (name, expr) in CASES {
        let value = match templar.template_value(&json!(expr), &vars, None) {
            Ok(o) => o.value,
            Err(d) => json!(format!("DROVER ERROR: {d}")),
        };
        out.insert((*name).to_string(), value);
    }
    for (name, cond) in WHENS {
        let value =
            match templar.evaluate_when(&[Condition::Expr((*cond).to_string())], &vars, None) {
                Ok(o) => json!(o.value),
                Err(d) => json!(format!("DROVER ERROR: {d}")),
            };
        out.insert((*name).to_string(), value);
    }
    out
}

fn compare(ours: &Map<String, Value>, theirs: &Map<String, Value>) {
    let mut diffs = Vec::new();
    for (name, expected) in theirs {
        let got = ours.get(name).cloned().unwrap_or(Value::Null);
        // exact, including key order and int/float distinction
        if serde_json::to_string(&got).unwrap() != serde_json::to_string(expected).unwrap() {
            diffs.push(format!(
                "  {name}:\n    ansible: {expected}\n    drover:  {got}"
            ));
        }
    }
    assert!(
        theirs.len() >= CASES.len() + WHENS.len(),
        "expected results are incomplete"
    );
    assert!(
        diffs.is_empty(),
        "{} case(s) differ from ansible-core:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn filter_table_matches_recorded_ansible_results() {
    let dir = tempfile::tempdir().unwrap();
    write_support_files(dir.path());
    let text = std::fs::read_to_string(fixture()).expect("fixture filters_expected.json");
    let theirs: Map<String, Value> = serde_json::from_str(&text).unwrap();
    compare(&drover_results(dir.path()), &theirs);
}

#[test]
fn filter_table_matches_live_ansible() {
    let Some(bin) = ansible_bin_dir() else { return };
    if !python_has(&bin, "jmespath") {
        missing(
            "python module `jmespath` (needed for json_query) is not importable by ansible's python; pip install jmespath",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_support_files(dir.path());
    std::fs::create_dir_all(dir.path().join("filter_plugins")).unwrap();
    std::fs::write(
        dir.path().join("filter_plugins/json_query.py"),
        JSON_QUERY_PLUGIN,
    )
    .unwrap();

    let mut play_vars = vars();
    let cases: Map<String, Value> = CASES
        .iter()
        .map(|(n, e)| ((*n).to_string(), json!(e)))
        .collect();
    play_vars.insert("cases".into(), Value::Object(cases));
    let mut tasks = Vec::new();
    let mut collect = Map::new();
    for (i, (name, cond)) in WHENS.iter().enumerate() {
        tasks.push(json!({"debug": {"msg": "x"}, "when": cond, "register": format!("w{i}")}));
        collect.insert(
            (*name).to_string(),
            json!(format!("{{{{ w{i} is not skipped }}}}")),
        );
    }
    play_vars.insert("whens".into(), Value::Object(collect));
    let out_file = dir.path().join("results.txt");
    tasks.push(json!({"copy": {"dest": out_file.display().to_string(), "content": "RESULTS {{ cases | combine(whens) | to_json }}"}}));
    let playbook = json!([{
        "hosts": "localhost", "connection": "local", "gather_facts": false,
        "vars": play_vars, "tasks": tasks
    }]);
    std::fs::write(
        dir.path().join("site.yml"),
        serde_json::to_string_pretty(&playbook).unwrap(),
    )
    .unwrap();
    run_playbook(&bin, dir.path(), &["-i", "localhost,", "site.yml"]);

    let text = std::fs::read_to_string(&out_file).unwrap();
    let json_text = text.strip_prefix("RESULTS ").expect("results prefix");
    let theirs: Map<String, Value> = serde_json::from_str(json_text).unwrap();
    if std::env::var("DROVER_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
        std::fs::write(
            fixture(),
            serde_json::to_string_pretty(&theirs).unwrap() + "\n",
        )
        .unwrap();
    }
    compare(&drover_results(dir.path()), &theirs);
    let committed: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap_or_else(|_| "{}".into()))
            .unwrap_or_default();
    assert_eq!(
        serde_json::to_string(&committed).unwrap(),
        serde_json::to_string(&theirs).unwrap(),
        "fixtures/filters_expected.json is stale; rerun with DROVER_UPDATE_FIXTURES=1"
    );
}
