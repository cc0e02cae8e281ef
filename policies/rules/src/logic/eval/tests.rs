//! Operator semantics, case by case, in the style of the JSON Logic shared test suite.

use crate::logic::test_support::apply;
use serde_json::{Value, json};

/// Each `[logic, data, expected]`.
fn check(cases: Value) {
    for case in cases.as_array().unwrap() {
        let (logic, data, expected) = (&case[0], &case[1], &case[2]);
        assert_eq!(
            &apply(logic.clone(), data.clone()),
            expected,
            "{logic} with {data}"
        );
    }
}

#[test]
fn var_reads_paths_with_defaults() {
    check(json!([
        [{"var": "tier"}, {"tier": "gold"}, "gold"],
        [{"var": ["tier"]}, {"tier": "gold"}, "gold"],
        [{"var": ["tier", "none"]}, {}, "none"],
        [{"var": ["tier", "none"]}, {"tier": null}, "none"],
        [{"var": "traits.shoe_size"}, {"traits": {"shoe_size": 42}}, 42],
        [{"var": "page.product_ids.1"}, {"page": {"product_ids": ["a", "b"]}}, "b"],
        [{"var": "page.kind"}, {"page": null}, null],
        [{"var": {"cat": ["traits.", "size"]}}, {"traits": {"size": "M"}}, "M"],
        [{"var": {"cat": ["nowhere.", "x"]}}, {}, null],
    ]));
}

#[test]
fn missing_lists_absent_variables() {
    check(json!([
        [{"missing": ["tier", "locale"]}, {"tier": "gold", "locale": ""}, ["locale"]],
        [{"missing": [["tier", "store"]]}, {"store": "s1"}, ["tier"]],
        [{"missing": []}, {}, []],
        [{"missing_some": [1, ["tier", "store"]]}, {"store": "s1"}, []],
        [{"missing_some": [2, ["tier", "store"]]}, {"store": "s1"}, ["tier"]],
        [{"if": [{"missing": "tier"}, "no tier", "tier"]}, {}, "no tier"],
    ]));
}

#[test]
fn logic_returns_values_and_short_circuits() {
    check(json!([
        [{"or": [0, "", "x"]}, {}, "x"],
        [{"or": [0, false]}, {}, false],
        [{"and": [1, "a", 0, "never"]}, {}, 0],
        [{"and": [1, "last"]}, {}, "last"],
        [{"!": [[]]}, {}, true],
        [{"!": "0"}, {}, false],
        [{"!!": ["0"]}, {}, true],
        [{"!!": [[]]}, {}, false],
        [{"if": [true, "yes", "no"]}, {}, "yes"],
        [{"if": [false, "a", 0, "b", "c"]}, {}, "c"],
        [{"if": [false, "a"]}, {}, null],
        [{"if": []}, {}, null],
        [{"?:": [1, "a", "b"]}, {}, "a"],
    ]));
}

#[test]
fn equality_is_loose_or_strict() {
    check(json!([
        [{"==": [1, "1"]}, {}, true],
        [{"==": [0, false]}, {}, true],
        [{"==": [null, 0]}, {}, false],
        [{"==": [{"var": "tier"}, null]}, {}, true],
        [{"===": [1, "1"]}, {}, false],
        [{"===": [1, 1.0]}, {}, true],
        [{"!=": ["a", "b"]}, {}, true],
        [{"!==": [1, "1"]}, {}, true],
    ]));
}

#[test]
fn comparisons_and_between() {
    check(json!([
        [{">": [2, 1]}, {}, true],
        [{">": ["10", 9]}, {}, true],
        [{">=": [1, 1]}, {}, true],
        [{"<": ["a", "b"]}, {}, true],
        [{"<": [1, 2, 3]}, {}, true],
        [{"<": [1, 1, 3]}, {}, false],
        [{"<=": [1, 1, 3]}, {}, true],
        [{"<=": [1, 4, 3]}, {}, false],
        [{"<": [{"var": "points"}, 100]}, {"points": null}, true],
        [{">": ["x", 1]}, {}, false],
    ]));
}

#[test]
fn arithmetic() {
    check(json!([
        [{"+": [1, "2", 3.5]}, {}, 6.5],
        [{"+": ["3"]}, {}, 3],
        [{"+": ["a", 1]}, {}, null],
        [{"-": [5, 7]}, {}, -2],
        [{"-": [3]}, {}, -3],
        [{"*": [2, "4"]}, {}, 8],
        [{"/": [6, 4]}, {}, 1.5],
        [{"/": [1, 0]}, {}, null],
        [{"%": [7, 3]}, {}, 1],
        [{"max": [1, 3, "2"]}, {}, 3],
        [{"min": [1, -3, 2]}, {}, -3],
        [{"max": [1, "x"]}, {}, null],
    ]));
}

#[test]
fn strings() {
    check(json!([
        [{"in": ["Spring", "Springfield"]}, {}, true],
        [{"in": ["x", "Springfield"]}, {}, false],
        [{"in": ["gold", ["silver", "gold"]]}, {}, true],
        [{"in": [1, ["1"]]}, {}, false],
        [{"in": ["a", null]}, {}, false],
        [{"cat": ["I love", " pie ", 3, null]}, {}, "I love pie 3null"],
        [{"cat": []}, {}, ""],
        [{"substr": ["jsonlogic", 4]}, {}, "logic"],
        [{"substr": ["jsonlogic", -5]}, {}, "logic"],
        [{"substr": ["jsonlogic", 0, 1]}, {}, "j"],
        [{"substr": ["jsonlogic", 4, -2]}, {}, "log"],
        [{"substr": ["jsonlogic", 20]}, {}, ""],
        [{"starts_with": [{"var": "locale"}, "en-"]}, {"locale": "en-GB"}, true],
        [{"ends_with": [{"var": "locale"}, "-GB"]}, {"locale": "en-GB"}, true],
        [{"starts_with": [{"var": "locale"}, "en"]}, {}, false],
    ]));
}

#[test]
fn arrays() {
    let events = json!({"events": [
        {"kind": "purchase", "value": 40},
        {"kind": "page_view", "value": null},
        {"kind": "purchase", "value": 75},
    ]});
    check(json!([
        [{"some": [{"var": "events"}, {"==": [{"var": "kind"}, "purchase"]}]}, events, true],
        [{"all": [{"var": "events"}, {"var": "kind"}]}, events, true],
        [{"all": [[], true]}, {}, false],
        [{"all": [{"var": "segments"}, true]}, {}, false],
        [{"none": [{"var": "events"}, {">": [{"var": "value"}, 100]}]}, events, true],
        [{"none": [null, true]}, {}, true],
        [{"filter": [{"var": "events"}, {">": [{"var": "value"}, 50]}]}, events, [{"kind": "purchase", "value": 75}]],
        [{"map": [{"var": "events"}, {"var": "kind"}]}, events, ["purchase", "page_view", "purchase"]],
        [{"map": [[1, 2], {"*": [{"var": ""}, 2]}]}, {}, [2, 4]],
        [{"map": ["x", 1]}, {}, []],
        [{"reduce": [{"var": "events"}, {"+": [{"var": "accumulator"}, {"var": ["current.value", 0]}]}, 0]}, events, 115],
        [{"reduce": [{"var": "events"}, {"+": [{"var": "accumulator"}, {"var": "current.value"}]}, 0]}, events, null],
        [{"reduce": ["x", 1, 7]}, {}, 7],
        [{"merge": [[1, 2], 3, [[4]]]}, {}, [1, 2, 3, [4]]],
        [{"merge": []}, {}, []],
        [{"in": ["vip", {"var": "segments"}]}, {"segments": ["vip"]}, true],
    ]));
}

#[test]
fn tailor_operators() {
    check(json!([
        [{"in_segment": "vip"}, {"segments": ["new", "vip"]}, true],
        [{"in_segment": ["lapsed"]}, {"segments": ["vip"]}, false],
        [{"in_segment": 3}, {"segments": ["3"]}, false],
    ]));
}
