//! The profile store's index: an open-addressing hash table at the end of the store file,
//! read in place (memory-mapped), so a lookup costs one or two reads of it whatever the number
//! of profiles.
//!
//! A slot is 16 bytes: the id's 64-bit hash and the value's offset in the file, both little-
//! endian; offset 0 (the file's header, never a value) marks an empty slot. The table has a
//! power-of-two number of slots, at least 4/3 of the profiles, and is probed linearly from the
//! slot the hash's top bits name.

/// Bytes of a slot.
pub(super) const SLOT: usize = 16;

/// The table for `entries` (hash, offset) pairs, as the bytes the file holds, and its slot count.
pub(super) fn build(entries: &[(u64, u64)]) -> (Vec<u8>, u64) {
    let slots = (entries.len() * 4 / 3 + 1).next_power_of_two().max(16);
    let bits = slots.trailing_zeros();
    let mut table = vec![0u8; slots * SLOT];
    for &(hash, offset) in entries {
        let mut i = home(hash, bits);
        loop {
            let slot = &mut table[i * SLOT..(i + 1) * SLOT];
            if slot[8..].iter().all(|&b| b == 0) {
                slot[..8].copy_from_slice(&hash.to_le_bytes());
                slot[8..].copy_from_slice(&offset.to_le_bytes());
                break;
            }
            i = (i + 1) & (slots - 1);
        }
    }
    (table, slots as u64)
}

/// The slot a hash is looked for first: its top bits (the low bits of some hashes are weak).
fn home(hash: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (hash >> (64 - bits)) as usize
    }
}

fn word(bytes: &[u8]) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(le)
}

/// Offsets of values whose id has `hash`, in probe order, until `found` accepts one (the
/// caller checks the id: two ids may share a hash). `table` is the bytes [`build`] made.
pub(super) fn find(table: &[u8], hash: u64, mut found: impl FnMut(u64) -> bool) -> Option<u64> {
    let slots = table.len() / SLOT;
    if slots == 0 {
        return None;
    }
    let bits = slots.trailing_zeros();
    let mut i = home(hash, bits);
    for _ in 0..slots {
        let slot = &table[i * SLOT..(i + 1) * SLOT];
        let offset = word(&slot[8..]);
        if offset == 0 {
            return None;
        }
        if word(slot) == hash && found(offset) {
            return Some(offset);
        }
        i = (i + 1) & (slots - 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_found_and_absent_hashes_are_not() {
        // Clustered hashes (the same top bits) probe past each other.
        let entries: Vec<(u64, u64)> = (0..1000u64).map(|i| ((i % 7) << 60 | i, 100 + i)).collect();
        let (table, slots) = build(&entries);
        assert_eq!(slots, 2048);
        for &(hash, offset) in &entries {
            assert_eq!(find(&table, hash, |o| o == offset), Some(offset));
        }
        assert_eq!(find(&table, 12345 << 20, |_| true), None);
        // A hash shared by two ids: the caller's check picks the right one.
        let shared = [(42, 10), (42, 20)];
        let (table, _) = build(&shared);
        assert_eq!(find(&table, 42, |o| o == 20), Some(20));
        assert_eq!(find(&table, 42, |_| false), None);
        assert_eq!(find(&build(&[]).0, 42, |_| true), None);
    }
}
