//! The streamer's numbered fields and the relay's field names (reference §4; the guide, schwab-py and Schwabdev
//! agree on every number used here).
//!
//! Only the fields the desk shows are subscribed: fewer fields, smaller frames. Field 0 (the symbol) is always
//! asked for, as Schwab's own libraries do, but it never comes back: the symbol is the item's `key`.

use serde_json::Value;

/// The streamer services the relay uses.
pub const LEVELONE_OPTIONS: &str = "LEVELONE_OPTIONS";
pub const LEVELONE_EQUITIES: &str = "LEVELONE_EQUITIES";
/// 1-minute bars of equities and indexes; one item per completed minute (reference §4: the wire's numbering, not
/// the guide's table).
pub const CHART_EQUITY: &str = "CHART_EQUITY";
/// `CHART_EQUITY`'s fields as the wire numbers them: 0 key, 1 sequence, 2 open, 3 high, 4 low, 5 close, 6 volume,
/// 7 chart time (the minute's start, ms), 8 chart day. Every one is asked for.
pub const CHART_EQUITY_FIELDS: &str = "0,1,2,3,4,5,6,7,8";

/// How a raw value becomes ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A price or a greek: a number; Schwab's "not computable" (−999) becomes null.
    Num,
    /// A count (size, volume, open interest, days): an integer.
    Int,
    /// A string, e.g. the contract type `C`/`P`.
    Str,
    /// The money intrinsic value (positive in the money, negative out of it), published as the bool `itm`.
    ItmFromIntrinsic,
}

/// One subscribed field: Schwab's number → the relay's name.
#[derive(Debug, Clone, Copy)]
struct FieldDef {
    id: u32,
    name: &'static str,
    kind: Kind,
}

const fn f(id: u32, name: &'static str, kind: Kind) -> FieldDef {
    FieldDef { id, name, kind }
}

/// LEVELONE_OPTIONS fields used, ascending by number.
const OPTION_FIELDS: &[FieldDef] = &[
    f(2, "bid", Kind::Num),
    f(3, "ask", Kind::Num),
    f(4, "last", Kind::Num),
    f(8, "volume", Kind::Int),
    f(9, "open_interest", Kind::Int),
    f(10, "iv", Kind::Num),
    f(11, "itm", Kind::ItmFromIntrinsic),
    f(16, "bid_size", Kind::Int),
    f(17, "ask_size", Kind::Int),
    f(20, "strike", Kind::Num),
    f(21, "put_call", Kind::Str),
    f(27, "dte", Kind::Int),
    f(28, "delta", Kind::Num),
    f(29, "gamma", Kind::Num),
    f(30, "theta", Kind::Num),
    f(31, "vega", Kind::Num),
    f(32, "rho", Kind::Num),
    // Schwab's own word for the contract: `Normal`, `Halted`, `Closed` — shown as sent, never guessed.
    f(33, "security_status", Kind::Str),
    f(37, "mark", Kind::Num),
];

/// LEVELONE_EQUITIES fields used, ascending by number.
const EQUITY_FIELDS: &[FieldDef] = &[
    f(1, "bid", Kind::Num),
    f(2, "ask", Kind::Num),
    f(3, "last", Kind::Num),
    f(8, "volume", Kind::Int),
    f(18, "net_change", Kind::Num),
    f(32, "security_status", Kind::Str),
    f(33, "mark", Kind::Num),
    f(42, "net_change_pct", Kind::Num),
];

fn table(service: &str) -> &'static [FieldDef] {
    match service {
        LEVELONE_OPTIONS => OPTION_FIELDS,
        LEVELONE_EQUITIES => EQUITY_FIELDS,
        _ => &[],
    }
}

/// The `fields` parameter for a service: `"0,2,3,…"`, ascending, field 0 first.
pub fn subscription_fields(service: &str) -> String {
    if service == CHART_EQUITY {
        return CHART_EQUITY_FIELDS.to_string();
    }
    std::iter::once("0".to_string())
        .chain(table(service).iter().map(|d| d.id.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Schwab's marker for a value it cannot compute (greeks, volatility).
pub fn not_computable(x: f64) -> bool {
    !x.is_finite() || (x + 999.0).abs() < 1e-9
}

/// A JSON number (or a numeric string, as some fixtures send) as f64; `None` for −999, NaN, or anything else.
pub fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (!not_computable(x)).then_some(x)
}

/// A number as JSON: integers stay integers (so `bid_size` prints as `3`, not `3.0`), −999 becomes null.
pub fn num_value(v: &Value) -> Value {
    match number(v) {
        Some(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        None => Value::Null,
    }
}

fn int_value(v: &Value) -> Value {
    match number(v) {
        Some(x) => Value::from(x.round() as i64),
        None => Value::Null,
    }
}

/// One streamed field in our terms: `(name, value)`, or `None` for a field we do not use (unknown fields are
/// tolerated: Schwab adds fields, and a VIEW from another client of the same session could widen the set).
pub fn map_field(service: &str, id: &str, v: &Value) -> Option<(&'static str, Value)> {
    let id: u32 = id.parse().ok()?;
    let def = table(service).iter().find(|d| d.id == id)?;
    let value = match def.kind {
        Kind::Num => num_value(v),
        Kind::Int => int_value(v),
        Kind::Str => match v {
            Value::String(s) => Value::String(s.clone()),
            _ => Value::Null,
        },
        Kind::ItmFromIntrinsic => match number(v) {
            Some(x) => Value::Bool(x > 0.0),
            None => Value::Null,
        },
    };
    Some((def.name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_lists_are_ascending_and_start_with_zero() {
        for svc in [LEVELONE_OPTIONS, LEVELONE_EQUITIES] {
            let ids: Vec<u32> = subscription_fields(svc)
                .split(',')
                .map(|s| s.parse().unwrap())
                .collect();
            assert_eq!(ids[0], 0);
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{svc}: {ids:?}");
        }
        assert_eq!(
            subscription_fields(LEVELONE_EQUITIES),
            "0,1,2,3,8,18,32,33,42"
        );
        assert!(
            subscription_fields(LEVELONE_OPTIONS).contains(",33,"),
            "security status"
        );
    }

    #[test]
    fn numbers_match_the_reference_tables() {
        let o = |id: &str, v: Value| map_field(LEVELONE_OPTIONS, id, &v);
        assert_eq!(o("2", json!(1.25)), Some(("bid", json!(1.25))));
        assert_eq!(o("9", json!(1200)), Some(("open_interest", json!(1200))));
        assert_eq!(o("10", json!(22.368)), Some(("iv", json!(22.368))));
        assert_eq!(o("20", json!(230.0)), Some(("strike", json!(230.0))));
        assert_eq!(o("21", json!("C")), Some(("put_call", json!("C"))));
        assert_eq!(o("27", json!(1)), Some(("dte", json!(1))));
        assert_eq!(o("28", json!(0.51)), Some(("delta", json!(0.51))));
        assert_eq!(o("32", json!(0.02)), Some(("rho", json!(0.02))));
        assert_eq!(o("37", json!(2.1)), Some(("mark", json!(2.1))));
        let e = |id: &str, v: Value| map_field(LEVELONE_EQUITIES, id, &v);
        assert_eq!(e("1", json!(233.22)), Some(("bid", json!(233.22))));
        assert_eq!(e("3", json!(233.3)), Some(("last", json!(233.3))));
        assert_eq!(e("8", json!(69783235)), Some(("volume", json!(69783235))));
        assert_eq!(e("33", json!(233.31)), Some(("mark", json!(233.31))));
        assert_eq!(e("42", json!(0.5)), Some(("net_change_pct", json!(0.5))));
    }

    #[test]
    fn odd_values_and_unknown_fields_are_tolerated() {
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "28", &json!(-999.0)),
            Some(("delta", Value::Null))
        );
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "10", &json!("NaN")),
            Some(("iv", Value::Null))
        );
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "2", &json!("1.5")),
            Some(("bid", json!(1.5)))
        );
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "16", &json!(3.0)),
            Some(("bid_size", json!(3)))
        );
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "11", &json!(4.2)),
            Some(("itm", json!(true)))
        );
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "11", &json!(-1.0)),
            Some(("itm", json!(false)))
        );
        assert_eq!(map_field(LEVELONE_OPTIONS, "55", &json!("A")), None);
        assert_eq!(map_field(LEVELONE_OPTIONS, "key", &json!("x")), None);
        assert_eq!(map_field("CHART_EQUITY", "1", &json!(1)), None);
        assert_eq!(
            map_field(LEVELONE_OPTIONS, "21", &json!(5)),
            Some(("put_call", Value::Null))
        );
    }
}
