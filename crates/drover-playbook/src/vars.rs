//! Variable scoping: the layers Ansible merges for a host and task, in its documented
//! precedence order (lowest first).

use serde_json::{Map, Value};

/// Merges `over` into `base` the way Ansible's default `hash_behaviour=replace` does: a key
/// in `over` replaces the whole value in `base`.
pub fn combine(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

/// The play's `vars:` blocks merged (untemplated), as used to template tags for listings.
pub fn play_vars(play: &crate::play::Play) -> Map<String, Value> {
    let mut out = Map::new();
    for block in &play.vars {
        combine(&mut out, &block.vars);
    }
    out
}
