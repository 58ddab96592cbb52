//! Typed shapes of the Trader API's REST replies that the client reads as records (the chain itself is read
//! field by field, defensively: Schwab sends numbers as strings, `NaN` and −999 in it).
//!
//! Only what the client uses is declared; unknown fields are ignored, missing optional ones are `None`, so a reply
//! with more (or a little less) than this still reads.

use serde::{Deserialize, Deserializer, Serialize};

/// One value or a list of them: Schwab's `userPreference` has been seen both as an object and as a one-element
/// array, and its `streamerInfo` likewise.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(t) => vec![t],
    })
}

/// `GET /trader/v1/userPreference` (its object form; [`UserPreference::parse`] also takes the array form).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPreference {
    #[serde(deserialize_with = "one_or_many", default)]
    pub streamer_info: Vec<StreamerInfo>,
    #[serde(default)]
    pub offers: Vec<Offer>,
}

impl UserPreference {
    /// Reads the reply: an object, or an array whose first element with `streamerInfo` is the one.
    pub fn parse(v: &serde_json::Value) -> Option<UserPreference> {
        let obj = match v {
            serde_json::Value::Array(a) => a.iter().find(|x| x.get("streamerInfo").is_some())?,
            other => other,
        };
        serde_json::from_value(obj.clone()).ok()
    }
}

/// How to reach the streamer, and the ids every streamer command must carry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamerInfo {
    pub streamer_socket_url: String,
    pub schwab_client_customer_id: String,
    pub schwab_client_correl_id: String,
    #[serde(default)]
    pub schwab_client_channel: Option<String>,
    #[serde(default)]
    pub schwab_client_function_id: Option<String>,
}

/// The account's market-data offer (`NP`: non-professional).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    #[serde(default)]
    pub level2_permissions: Option<bool>,
    #[serde(default)]
    pub mkt_data_permission: Option<String>,
}

/// `GET /marketdata/v1/expirationchain?symbol=…`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationChain {
    #[serde(default)]
    pub expiration_list: Vec<ExpirationEntry>,
}

/// One listed expiry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationEntry {
    /// `YYYY-MM-DD` (the client reads the date part, whatever follows it).
    pub expiration_date: String,
    #[serde(default)]
    pub days_to_expiration: Option<i64>,
    /// `S` standard monthly, `W` weekly, `Q` quarterly…
    #[serde(default)]
    pub expiration_type: Option<String>,
    /// `P` PM-settled, `A` AM-settled.
    #[serde(default)]
    pub settlement_type: Option<String>,
    #[serde(default)]
    pub option_roots: Option<String>,
    #[serde(default)]
    pub standard: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_preference_as_object_or_array() {
        let obj = json!({"accounts":[{"accountNumber":"12345678"}],
            "streamerInfo":[{"streamerSocketUrl":"wss://streamer-api.schwab.com/ws","schwabClientCustomerId":"abc",
              "schwabClientCorrelId":"def","schwabClientChannel":"N9","schwabClientFunctionId":"APIAPP"}],
            "offers":[{"level2Permissions":true,"mktDataPermission":"NP"}]});
        let p = UserPreference::parse(&obj).unwrap();
        assert_eq!(
            p.streamer_info[0].streamer_socket_url,
            "wss://streamer-api.schwab.com/ws"
        );
        assert_eq!(p.offers[0].mkt_data_permission.as_deref(), Some("NP"));
        let single = json!([{"streamerInfo": {"streamerSocketUrl":"wss://x/ws","schwabClientCustomerId":"a",
            "schwabClientCorrelId":"b"}}]);
        let p = UserPreference::parse(&single).unwrap();
        assert_eq!(p.streamer_info[0].schwab_client_channel, None);
        assert!(p.offers.is_empty());
        assert_eq!(UserPreference::parse(&json!({"streamerInfo": 5})), None);
    }

    #[test]
    fn expiration_chain_reads_what_it_needs() {
        let v = json!({"expirationList":[
            {"expirationDate":"2024-10-18","daysToExpiration":1,"expirationType":"W","settlementType":"P",
             "optionRoots":"SPXW","standard":false},
            {"expirationDate":"2024-11-15"}]});
        let e: ExpirationChain = serde_json::from_value(v).unwrap();
        assert_eq!(e.expiration_list.len(), 2);
        assert_eq!(e.expiration_list[0].expiration_type.as_deref(), Some("W"));
        assert_eq!(e.expiration_list[1].days_to_expiration, None);
        let empty: ExpirationChain = serde_json::from_value(json!({})).unwrap();
        assert!(empty.expiration_list.is_empty());
    }
}
