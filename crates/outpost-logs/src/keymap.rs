//! An exact map from byte-string keys to values, with keys copied into one arena and a cap
//! on the number of keys: once full, new keys are not tracked and are counted in
//! `dropped`. Used for per-client-IP state in `threats`.

use hashbrown::HashTable;

use crate::counter::hash_key;

#[derive(Debug, Clone)]
struct Slot<V> {
    off: usize,
    len: u32,
    hash: u64,
    value: V,
}

/// A capped map from byte keys to `V`.
#[derive(Debug, Clone)]
pub struct KeyMap<V> {
    table: HashTable<u32>,
    slots: Vec<Slot<V>>,
    arena: Vec<u8>,
    max_keys: usize,
    /// Lookups of new keys refused because the map was full.
    pub dropped: u64,
}

impl<V: Default> KeyMap<V> {
    pub fn new(max_keys: usize) -> KeyMap<V> {
        KeyMap {
            table: HashTable::new(),
            slots: Vec::new(),
            arena: Vec::new(),
            max_keys,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value for `key`, inserted as `V::default()` if new; `None` when full.
    #[inline]
    pub fn entry(&mut self, key: &[u8]) -> Option<&mut V> {
        self.entry_hashed(key, hash_key(key))
    }

    fn entry_hashed(&mut self, key: &[u8], hash: u64) -> Option<&mut V> {
        let (slots, arena) = (&self.slots, &self.arena);
        let found = self.table.find(hash, |&i| {
            let s = &slots[i as usize];
            s.hash == hash && &arena[s.off..s.off + s.len as usize] == key
        });
        let idx = match found {
            Some(&i) => i as usize,
            None if self.slots.len() >= self.max_keys => {
                self.dropped += 1;
                return None;
            }
            None => {
                let idx = self.slots.len();
                self.slots.push(Slot {
                    off: self.arena.len(),
                    len: key.len() as u32,
                    hash,
                    value: V::default(),
                });
                self.arena.extend_from_slice(key);
                let slots = &self.slots;
                self.table
                    .insert_unique(hash, idx as u32, |&i| slots[i as usize].hash);
                idx
            }
        };
        Some(&mut self.slots[idx].value)
    }

    /// Merges `other` in, combining values of equal keys with `combine`.
    pub fn merge(&mut self, other: KeyMap<V>, mut combine: impl FnMut(&mut V, V)) {
        self.dropped += other.dropped;
        for s in other.slots {
            let key = &other.arena[s.off..s.off + s.len as usize];
            if let Some(v) = self.entry_hashed(key, s.hash) {
                combine(v, s.value);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.slots
            .iter()
            .map(|s| (&self.arena[s.off..s.off + s.len as usize], &s.value))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().map(|s| &mut s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_keys_and_merges() {
        let mut m: KeyMap<u64> = KeyMap::new(2);
        for k in ["a", "b", "a", "c"] {
            if let Some(v) = m.entry(k.as_bytes()) {
                *v += 1;
            }
        }
        assert_eq!(m.len(), 2);
        assert_eq!(m.dropped, 1);
        let mut n: KeyMap<u64> = KeyMap::new(2);
        *n.entry(b"a").expect("room") += 5;
        m.merge(n, |a, b| *a += b);
        let got: Vec<(Vec<u8>, u64)> = m.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        assert_eq!(got, vec![(b"a".to_vec(), 7), (b"b".to_vec(), 1)]);
    }
}
