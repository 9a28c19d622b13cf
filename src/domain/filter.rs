//! Payload filters: a small JSON match language an endpoint can set so it only receives the
//! messages whose payload matches, evaluated at fan-out (after event types and channels).
//!
//! A filter is a JSON object. Each entry is either a field condition, `"dotted.path":
//! condition` (path segments name object keys, or array positions), or a logical one:
//! `"$and": [filters]`, `"$or": [filters]`, `"$not": filter`. All entries must hold. A
//! condition is a plain value (equality) or an object of operators: `$eq`, `$ne`, `$in`,
//! `$nin` (lists), `$gt`, `$gte`, `$lt`, `$lte` (numbers with numbers, strings with strings),
//! `$exists` (bool), `$not` (an operator object). A field holding an array equals a value when
//! the array is that value or contains it. Filters are bounded: at most [`MAX_DEPTH`] levels,
//! [`MAX_NODES`] conditions and values, [`MAX_BYTES`] bytes.

use serde_json::Value;

/// Deepest nesting of a filter.
pub const MAX_DEPTH: usize = 8;
/// Most conditions and values in one filter.
pub const MAX_NODES: usize = 256;
/// Largest serialized filter.
pub const MAX_BYTES: usize = 16 * 1024;
/// Longest field path, in characters.
pub const MAX_PATH: usize = 256;
/// Most values of an `$in` or `$nin` list.
pub const MAX_LIST: usize = 100;
/// Most segments of a field path.
pub const MAX_SEGMENTS: usize = MAX_DEPTH * 4;

/// Why a filter is refused (the text is what a client is told).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter {0}")]
pub struct FilterError(String);

fn refuse<T>(text: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(text.into()))
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Every one must hold.
    all: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Field { path: Vec<String>, test: Test },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Compare(Order, Value),
    Exists(bool),
    Not(Vec<Test>),
    All(Vec<Test>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Counts nodes while compiling, to bound the filter's size.
struct Budget(usize);

impl Budget {
    fn spend(&mut self) -> Result<(), FilterError> {
        self.0 += 1;
        if self.0 > MAX_NODES {
            return refuse(format!("has more than {MAX_NODES} conditions and values"));
        }
        Ok(())
    }
}

impl Filter {
    /// Compiles a filter document, or says what is wrong with it.
    pub fn parse(document: &Value) -> Result<Filter, FilterError> {
        let size = serde_json::to_string(document).map_or(usize::MAX, |s| s.len());
        if size > MAX_BYTES {
            return refuse(format!("is larger than {MAX_BYTES} bytes"));
        }
        Self::compile(document, 1, &mut Budget(0))
    }

    fn compile(document: &Value, depth: usize, budget: &mut Budget) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return refuse(format!("is nested deeper than {MAX_DEPTH} levels"));
        }
        let Value::Object(entries) = document else {
            return refuse("must be a JSON object of conditions");
        };
        let mut all = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            budget.spend()?;
            let clause = match key.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = value else {
                        return refuse(format!("{key} takes a list of filters"));
                    };
                    if items.is_empty() {
                        return refuse(format!("{key} needs at least one filter"));
                    }
                    let filters = items
                        .iter()
                        .map(|item| Self::compile(item, depth + 1, budget))
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "$and" {
                        Clause::And(filters)
                    } else {
                        Clause::Or(filters)
                    }
                }
                "$not" => Clause::Not(Box::new(Self::compile(value, depth + 1, budget)?)),
                other if other.starts_with('$') => {
                    return refuse(format!(
                        "has an unknown operator {other} (use $and, $or, $not at the top)"
                    ));
                }
                path => Clause::Field {
                    path: parse_path(path)?,
                    test: compile_test(value, depth + 1, budget)?,
                },
            };
            all.push(clause);
        }
        Ok(Filter { all })
    }

    /// Whether `payload` matches.
    pub fn matches(&self, payload: &Value) -> bool {
        self.all.iter().all(|clause| match clause {
            Clause::Field { path, test } => test.holds(lookup(payload, path)),
            Clause::And(filters) => filters.iter().all(|f| f.matches(payload)),
            Clause::Or(filters) => filters.iter().any(|f| f.matches(payload)),
            Clause::Not(filter) => !filter.matches(payload),
        })
    }
}

fn parse_path(path: &str) -> Result<Vec<String>, FilterError> {
    if path.is_empty() || path.chars().count() > MAX_PATH {
        return refuse(format!("paths must be 1 to {MAX_PATH} characters"));
    }
    let segments: Vec<String> = path.split('.').map(str::to_string).collect();
    if segments.len() > MAX_SEGMENTS || segments.iter().any(String::is_empty) {
        return refuse(format!("has an invalid path {path:?}"));
    }
    Ok(segments)
}

fn compile_test(value: &Value, depth: usize, budget: &mut Budget) -> Result<Test, FilterError> {
    if depth > MAX_DEPTH {
        return refuse(format!("is nested deeper than {MAX_DEPTH} levels"));
    }
    let operators = match value {
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => map,
        plain => {
            budget.spend()?;
            return Ok(Test::Eq(plain.clone()));
        }
    };
    let mut tests = Vec::with_capacity(operators.len());
    for (op, operand) in operators {
        budget.spend()?;
        let list = |operand: &Value| -> Result<Vec<Value>, FilterError> {
            match operand {
                Value::Array(items) if items.len() <= MAX_LIST => Ok(items.clone()),
                Value::Array(_) => refuse(format!("{op} takes at most {MAX_LIST} values")),
                _ => refuse(format!("{op} takes a list of values")),
            }
        };
        let test = match op.as_str() {
            "$eq" => Test::Eq(operand.clone()),
            "$ne" => Test::Ne(operand.clone()),
            "$in" => Test::In(list(operand)?),
            "$nin" => Test::Nin(list(operand)?),
            "$gt" | "$gte" | "$lt" | "$lte" => {
                if !(operand.is_number() || operand.is_string()) {
                    return refuse(format!("{op} compares with a number or a string"));
                }
                let order = match op.as_str() {
                    "$gt" => Order::Gt,
                    "$gte" => Order::Gte,
                    "$lt" => Order::Lt,
                    _ => Order::Lte,
                };
                Test::Compare(order, operand.clone())
            }
            "$exists" => match operand {
                Value::Bool(b) => Test::Exists(*b),
                _ => return refuse("$exists takes true or false"),
            },
            "$not" => match compile_test(operand, depth + 1, budget)? {
                Test::Eq(_) => return refuse("$not takes an object of operators"),
                inner => Test::Not(vec![inner]),
            },
            other => return refuse(format!("has an unknown operator {other}")),
        };
        tests.push(test);
    }
    Ok(match tests.len() {
        1 => tests.remove(0),
        _ => Test::All(tests),
    })
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// Equality, with a number compared by value (`1` equals `1.0`) and an array field equal to
/// a value it contains.
fn equals(field: &Value, value: &Value) -> bool {
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    };
    same(field, value)
        || matches!(field, Value::Array(items) if !value.is_array() && items.iter().any(|i| same(i, value)))
}

impl Test {
    fn holds(&self, field: Option<&Value>) -> bool {
        match self {
            Test::Eq(value) => field.is_some_and(|f| equals(f, value)),
            Test::Ne(value) => !field.is_some_and(|f| equals(f, value)),
            Test::In(values) => field.is_some_and(|f| values.iter().any(|v| equals(f, v))),
            Test::Nin(values) => !field.is_some_and(|f| values.iter().any(|v| equals(f, v))),
            Test::Compare(order, bound) => field.is_some_and(|f| compare(f, *order, bound)),
            Test::Exists(wanted) => field.is_some() == *wanted,
            Test::Not(tests) => !tests.iter().all(|t| t.holds(field)),
            Test::All(tests) => tests.iter().all(|t| t.holds(field)),
        }
    }
}

fn compare(field: &Value, order: Order, bound: &Value) -> bool {
    let ordering = match (field, bound) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match order {
        Order::Gt => ordering.is_gt(),
        Order::Gte => ordering.is_ge(),
        Order::Lt => ordering.is_lt(),
        Order::Lte => ordering.is_le(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value, payload: Value) -> bool {
        Filter::parse(&filter)
            .expect("valid filter")
            .matches(&payload)
    }

    #[test]
    fn the_operators_as_a_table() {
        let payload = json!({
            "type": "invoice.paid",
            "amount": 120,
            "currency": "EUR",
            "customer": {"tier": "gold", "id": "c-1", "tags": ["vip", "eu"]},
            "lines": [{"sku": "a"}, {"sku": "b"}],
            "note": null
        });
        let table: Vec<(Value, bool)> = vec![
            (json!({}), true),
            (json!({"currency": "EUR"}), true),
            (json!({"currency": "USD"}), false),
            (json!({"amount": 120.0}), true),
            (json!({"customer.tier": "gold"}), true),
            (json!({"customer.tags": "vip"}), true),
            (json!({"customer.tags": ["vip", "eu"]}), true),
            (json!({"customer.tags": "us"}), false),
            (json!({"lines.1.sku": "b"}), true),
            (json!({"lines.5.sku": "b"}), false),
            (json!({"amount": {"$gt": 100}}), true),
            (json!({"amount": {"$gte": 120, "$lt": 121}}), true),
            (json!({"amount": {"$lte": 119}}), false),
            (json!({"amount": {"$gt": "100"}}), false),
            (json!({"currency": {"$gt": "DKK"}}), true),
            (json!({"currency": {"$ne": "USD"}}), true),
            (json!({"missing": {"$ne": "x"}}), true),
            (json!({"currency": {"$in": ["USD", "EUR"]}}), true),
            (json!({"currency": {"$nin": ["USD", "EUR"]}}), false),
            (json!({"customer.id": {"$exists": true}}), true),
            (json!({"customer.email": {"$exists": false}}), true),
            (json!({"note": {"$exists": true}}), true),
            (json!({"note": null}), true),
            (json!({"amount": {"$not": {"$gt": 200}}}), true),
            (
                json!({"$or": [{"currency": "USD"}, {"amount": {"$gt": 100}}]}),
                true,
            ),
            (
                json!({"$and": [{"currency": "EUR"}, {"amount": {"$lt": 100}}]}),
                false,
            ),
            (json!({"$not": {"currency": "USD"}}), true),
            (
                json!({"type": "invoice.paid", "customer.tier": {"$in": ["gold", "platinum"]}}),
                true,
            ),
        ];
        for (filter, expected) in table {
            assert_eq!(check(filter.clone(), payload.clone()), expected, "{filter}");
        }
    }

    #[test]
    fn malformed_or_oversized_filters_are_refused() {
        let deep = (0..20).fold(json!({"a": 1}), |inner, _| json!({"$not": inner}));
        let wide: serde_json::Map<String, Value> =
            (0..300).map(|i| (format!("f{i}"), json!(i))).collect();
        for bad in [
            json!([]),
            json!("x"),
            json!({"$and": {}}),
            json!({"$or": []}),
            json!({"$where": "1"}),
            json!({"a": {"$regex": "x"}}),
            json!({"a": {"$in": 3}}),
            json!({"a": {"$gt": true}}),
            json!({"a": {"$exists": "yes"}}),
            json!({"a": {"$not": 3}}),
            json!({"": 1}),
            json!({"a..b": 1}),
            deep,
            Value::Object(wide),
        ] {
            assert!(Filter::parse(&bad).is_err(), "{bad}");
        }
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z$.0-9]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        "[a-z.0-9]{1,5}",
                        Just("$and".to_string()),
                        Just("$or".to_string()),
                        Just("$not".to_string()),
                        Just("$in".to_string()),
                        Just("$gt".to_string()),
                        Just("$eq".to_string()),
                        Just("$exists".to_string()),
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a client sends as filter and payload: compiling and matching never panic.
        #[test]
        fn filters_never_panic(filter in arbitrary_json(), payload in arbitrary_json()) {
            if let Ok(filter) = Filter::parse(&filter) {
                let _ = filter.matches(&payload);
            }
        }
    }
}
