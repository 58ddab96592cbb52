//! The view model: one signal per live cell, so a tick re-renders only the cells it changes.
//!
//! A [`TopicView`] holds a topic's row keys (a signal that changes only when rows appear or go) and, per
//! (item, field), a [`Cell`] created on first use. The feed writes values into cells once per animation frame;
//! the table components read them. Nothing here re-renders a whole table on a tick.
//!
//! The signals are reference-counted ([`ArcRwSignal`]), not owned by the component that first asked for them: a
//! chain row scrolled out of the strike window and back, or a view created while switching underlyings, must find
//! its cells alive. A cell lives as long as its item; [`TopicView::remove_item`] drops it when the item goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use leptos::prelude::*;
use serde_json::Value;
use tickdesk_wire::Fields;

/// The direction of the last change of a cell, and a generation counter that restarts the flash animation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flash {
    pub dir: i8,
    pub generation: u32,
}

impl Flash {
    /// The CSS class for this flash: alternates between two names so that the animation restarts on each change.
    pub fn class(self) -> &'static str {
        match (self.dir, self.generation % 2) {
            (1, 0) => "flash-up-a",
            (1, _) => "flash-up-b",
            (-1, 0) => "flash-down-a",
            (-1, _) => "flash-down-b",
            _ => "",
        }
    }
}

/// One live value.
#[derive(Debug, Clone)]
pub struct Cell {
    pub value: ArcRwSignal<Option<Value>>,
    pub flash: ArcRwSignal<Flash>,
}

/// The rows of one topic as the views see them.
#[derive(Debug, Clone)]
pub struct TopicView {
    pub keys: ArcRwSignal<Vec<String>>,
    /// Item → field → cell. `Arc<Mutex>` only because Leptos requires view state to be `Send`; the page has one
    /// thread, so it never contends.
    cells: Arc<Mutex<HashMap<String, HashMap<String, Cell>>>>,
}

impl Default for TopicView {
    fn default() -> Self {
        TopicView {
            keys: ArcRwSignal::new(Vec::new()),
            cells: Arc::default(),
        }
    }
}

impl TopicView {
    /// The cell of `item.field`, created empty if the views ask before data arrives.
    pub fn cell(&self, item: &str, field: &str) -> Cell {
        self.cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(item.to_string())
            .or_default()
            .entry(field.to_string())
            .or_insert_with(|| Cell {
                value: ArcRwSignal::new(None),
                flash: ArcRwSignal::new(Flash::default()),
            })
            .clone()
    }

    /// An item went: its cells are emptied (a view still showing it shows dashes) and forgotten.
    pub fn remove_item(&self, item: &str) {
        let gone = self
            .cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(item);
        for cell in gone.into_iter().flat_map(HashMap::into_values) {
            cell.value.set(None);
        }
    }

    /// Writes an item's current fields; flashes numeric cells that moved. `flash` is false for snapshots, so a
    /// reconnect does not light up the whole table.
    pub fn write_item(&self, item: &str, fields: &Fields, flash: bool) {
        for (field, v) in fields {
            let cell = self.cell(item, field);
            let old = cell.value.get_untracked();
            if old.as_ref() == Some(v) {
                continue;
            }
            if flash {
                if let (Some(a), Some(b)) = (old.as_ref().and_then(Value::as_f64), v.as_f64()) {
                    let dir = if b > a {
                        1
                    } else if b < a {
                        -1
                    } else {
                        0
                    };
                    if dir != 0 {
                        cell.flash.update(|f| {
                            *f = Flash {
                                dir,
                                generation: f.generation.wrapping_add(1),
                            }
                        });
                    }
                }
            }
            cell.value.set(Some(v.clone()));
        }
    }

    /// Replaces the row keys if they changed (rows appeared or went).
    pub fn set_keys(&self, keys: Vec<String>) {
        if self.keys.with_untracked(|k| *k != keys) {
            self.keys.set(keys);
        }
    }
}
