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

/// A built table.
#[derive(Debug)]
pub(super) struct Built {
    /// The bytes the file holds.
    pub(super) table: Vec<u8>,
    /// Entries whose hash no earlier entry had: the customers, when an id listed twice in a
    /// snapshot is two entries of one hash (two ids sharing all 64 bits of a hash, about one
    /// chance in 10^7 for a store of 10M, would be counted once, and both still found).
    pub(super) distinct: u64,
}

/// The table for `entries` (hash, offset) pairs; of two entries of one hash, the earlier one is
/// probed first.
pub(super) fn build(entries: &[(u64, u64)]) -> Built {
    let slots = (entries.len() * 4 / 3 + 1).next_power_of_two().max(16);
    let bits = slots.trailing_zeros();
    let mut table = vec![0u8; slots * SLOT];
    let mut distinct = 0;
    for &(hash, offset) in entries {
        let mut i = home(hash, bits);
        let mut seen = false;
        loop {
            let slot = &mut table[i * SLOT..(i + 1) * SLOT];
            if slot[8..].iter().all(|&b| b == 0) {
                slot[..8].copy_from_slice(&hash.to_le_bytes());
                slot[8..].copy_from_slice(&offset.to_le_bytes());
                break;
            }
            seen |= word(slot) == hash;
            i = (i + 1) & (slots - 1);
        }
        distinct += u64::from(!seen);
    }
    Built { table, distinct }
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
        let built = build(&entries);
        assert_eq!((built.table.len() / SLOT, built.distinct), (2048, 1000));
        for &(hash, offset) in &entries {
            assert_eq!(find(&built.table, hash, |o| o == offset), Some(offset));
        }
        assert_eq!(find(&built.table, 12345 << 20, |_| true), None);
        // A hash shared by two entries (an id listed twice, or two ids): the caller's check
        // picks the right one, the earlier one first; they count once.
        let shared = build(&[(42, 10), (7, 15), (42, 20)]);
        assert_eq!(shared.distinct, 2);
        assert_eq!(find(&shared.table, 42, |o| o == 20), Some(20));
        assert_eq!(find(&shared.table, 42, |_| true), Some(10));
        assert_eq!(find(&shared.table, 42, |_| false), None);
        assert_eq!(find(&build(&[]).table, 42, |_| true), None);
    }
}
