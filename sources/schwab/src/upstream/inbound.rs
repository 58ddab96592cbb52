//! What the streamer sends: data items become deltas of the chain and quote topics (only the fields they carry),
//! heartbeats and notices; delayed data is noted for the status.

use super::*;

impl Upstream {
    pub(super) fn on_inbound(&mut self, ev: Inbound) -> Result<(), StreamError> {
        self.status.message_seen();
        match ev {
            Inbound::Heartbeat(_) => Ok(()),
            Inbound::Response(r) => {
                debug!(requestid = %r.requestid, code = r.code, "unmatched Schwab response ignored");
                Ok(())
            }
            Inbound::Notice { code: 0, .. } => Ok(()),
            Inbound::Notice { code, msg, service } => Err(StreamError::Code {
                code,
                msg,
                context: format!("a {service} notice"),
            }),
            Inbound::Data {
                service,
                timestamp,
                items,
            } => {
                let ts = timestamp.unwrap_or_else(wall_ms);
                match service.as_str() {
                    LEVELONE_OPTIONS => self.on_option_items(items, ts),
                    LEVELONE_EQUITIES => self.on_equity_items(items, ts),
                    CHART_EQUITY => self.on_chart_items(items),
                    other => debug!(service = other, "data for a service not used; ignored"),
                }
                Ok(())
            }
        }
    }

    pub(super) fn note_delayed(&mut self, key: &str, delayed: Option<bool>) {
        match delayed {
            Some(true) => {
                self.delayed_keys.insert(key.to_string());
            }
            Some(false) => {
                self.delayed_keys.remove(key);
            }
            None => return,
        }
        self.status.set_delayed(!self.delayed_keys.is_empty());
    }

    /// Options: only the fields each item carries (a missing field is unchanged), grouped per chain topic.
    pub(super) fn on_option_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut by_topic: HashMap<String, Items> = HashMap::new();
        for item in items {
            let subscribed = self
                .subscribed
                .get(LEVELONE_OPTIONS)
                .is_some_and(|s| s.contains(&item.key));
            let Some(topic) = self
                .key_topic
                .get(&item.key)
                .filter(|_| subscribed)
                .cloned()
            else {
                // Data for a key just unsubscribed can still trickle in.
                continue;
            };
            self.note_delayed(&item.key, item.delayed);
            let mut row: Fields = item
                .fields
                .iter()
                .filter_map(|(id, v)| fields::map_field(LEVELONE_OPTIONS, id, v))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            row.insert("ts".into(), json!(ts));
            row.insert("live".into(), json!(true));
            by_topic.entry(topic).or_default().insert(item.key, row);
        }
        for (topic, rows) in by_topic {
            self.store.publish(&topic, rows, vec![]);
        }
    }

    pub(super) fn on_equity_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut rows = Items::new();
        for item in items {
            if !self
                .subscribed
                .get(LEVELONE_EQUITIES)
                .is_some_and(|s| s.contains(&item.key))
            {
                continue;
            }
            self.note_delayed(&item.key, item.delayed);
            self.on_equity_tick(&item.key, &item.fields);
            let mut row: Fields = item
                .fields
                .iter()
                .filter_map(|(id, v)| fields::map_field(LEVELONE_EQUITIES, id, v))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            row.insert("ts".into(), json!(ts));
            if let Some(d) = item.delayed {
                row.insert("delayed".into(), json!(d));
            }
            self.streamed_quotes.insert(item.key.clone());
            rows.insert(item.key, row);
        }
        if !rows.is_empty() {
            self.store.publish(QUOTES_TOPIC, rows, vec![]);
        }
    }
}
