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
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flash {
    pub dir: i8,
    pub generation: u32,
    /// Page-clock time the current flash started.
    pub started_ms: f64,
}

/// How long a flash lasts (the CSS animation's duration).
pub const FLASH_MS: f64 = 800.0;

impl Flash {
    /// The flash after a move in `dir` at `now_ms`, or `None` to leave the running one alone.
    ///
    /// A cell restarts its fade at most once per half flash: moving the same way while still lit, it stays lit;
    /// moving back, it turns the other colour at once but keeps fading from where it was. At a fast market (a price
    /// cell can change every 20 ms) restarting on every tick would rebuild hundreds of animations per frame for no
    /// difference a trader can see, while the colour always tells the last direction.
    pub fn after_move(self, dir: i8, now_ms: f64) -> Option<Flash> {
        if dir == 0 {
            return None;
        }
        if now_ms - self.started_ms < FLASH_MS / 2.0 {
            return (dir != self.dir).then_some(Flash { dir, ..self });
        }
        Some(Flash {
            dir,
            generation: self.generation.wrapping_add(1),
            started_ms: now_ms,
        })
    }

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
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        // The hot path (every changed field, every frame) finds the cell without allocating.
        if let Some(c) = cells.get(item).and_then(|m| m.get(field)) {
            return c.clone();
        }
        cells
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
    pub fn write_item(&self, item: &str, fields: &Fields, flash: bool, now_ms: f64) {
        for (field, v) in fields {
            let cell = self.cell(item, field);
            let (same, old) = cell
                .value
                .with_untracked(|o| (o.as_ref() == Some(v), o.as_ref().and_then(Value::as_f64)));
            if same {
                continue;
            }
            if let (true, Some(a), Some(b)) = (flash, old, v.as_f64()) {
                let dir = if b > a {
                    1
                } else if b < a {
                    -1
                } else {
                    0
                };
                if let Some(next) = cell.flash.get_untracked().after_move(dir, now_ms) {
                    cell.flash.set(next);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_restarts_its_flash_at_most_once_per_half_flash() {
        let lit = Flash::default().after_move(1, 1_000.0).unwrap();
        assert_eq!((lit.dir, lit.generation, lit.class()), (1, 1, "flash-up-b"));
        // Same way, early in the flash: left alone.
        assert_eq!(lit.after_move(1, 1_000.0 + FLASH_MS / 4.0), None);
        // The other way, early: the new colour at once, the same fade (same animation name, not restarted).
        let down = lit.after_move(-1, 1_100.0).unwrap();
        assert_eq!(
            (down.dir, down.generation, down.class()),
            (-1, 1, "flash-down-b")
        );
        assert_eq!(down.started_ms, 1_000.0);
        // Late in the flash: restarted, so a cell that keeps moving does not go dark.
        let again = down.after_move(-1, 1_000.0 + FLASH_MS).unwrap();
        assert_eq!((again.generation, again.class()), (2, "flash-down-a"));
        assert_eq!(again.started_ms, 1_000.0 + FLASH_MS);
        // No move, no flash.
        assert_eq!(again.after_move(0, 5_000.0), None);
    }
}
