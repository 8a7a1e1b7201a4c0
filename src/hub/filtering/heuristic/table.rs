//! The vocabulary as one table, sorted and hashed at compile time, and the lookup of a
//! word in it (with light plural/-ing/-ed stripping).

use super::vocabulary::{CATS, VOCAB, same};

// ---------------------------------------------------------------------------
// The table: every (word, category, weight), sorted by word at compile time.

#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) word: &'static str,
    pub(super) cat: u8,
    pub(super) weight: u8,
}

pub(super) const fn vocab_len() -> usize {
    let mut n = 0;
    let mut c = 0;
    while c < CATS {
        n += VOCAB[c].len();
        c += 1;
    }
    n
}

pub(super) const LEN: usize = vocab_len();

/// The longest word looked up: no keyword is longer.
pub(super) const MAX_WORD: usize = 32;

/// `a < b`, bytewise (the order `[u8]` has at run time).
pub(super) const fn less(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

pub(super) const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

pub(super) const fn build_table() -> [Entry; LEN] {
    let blank = Entry {
        word: "",
        cat: 0,
        weight: 0,
    };
    let mut out = [blank; LEN];
    let mut k = 0;
    let mut c = 0;
    while c < CATS {
        let list = VOCAB[c];
        let mut i = 0;
        while i < list.len() {
            assert!(list[i].0.len() >= 2, "keywords have two bytes at least");
            assert!(
                list[i].0.len() <= MAX_WORD,
                "no keyword is longer than MAX_WORD"
            );
            out[k] = Entry {
                word: list[i].0,
                cat: c as u8,
                weight: list[i].1,
            };
            k += 1;
            i += 1;
        }
        c += 1;
    }
    // Bottom-up merge sort (stable).
    let mut buf = [blank; LEN];
    let mut width = 1;
    while width < LEN {
        let mut lo = 0;
        while lo < LEN {
            let mid = min(lo + width, LEN);
            let hi = min(lo + 2 * width, LEN);
            let (mut i, mut j, mut t) = (lo, mid, lo);
            while t < hi {
                if i < mid && (j >= hi || !less(out[j].word.as_bytes(), out[i].word.as_bytes())) {
                    buf[t] = out[i];
                    i += 1;
                } else {
                    buf[t] = out[j];
                    j += 1;
                }
                t += 1;
            }
            lo = hi;
        }
        out = buf;
        width *= 2;
    }
    out
}

pub(super) static TABLE: [Entry; LEN] = build_table();

/// The class of a keyword byte: 0..26 for letters, 26..36 for digits, 36 otherwise.
pub(super) const fn class(b: u8) -> usize {
    match b {
        b'a'..=b'z' => (b - b'a') as usize,
        b'0'..=b'9' => 26 + (b - b'0') as usize,
        _ => 36,
    }
}

pub(super) const PAIR_BITS: usize = 37 * 37;

/// Which two-byte beginnings some keyword has: most words of a text are no keyword
/// and are turned away here, stems and all, without a search.
pub(super) static PAIRS: [u64; PAIR_BITS.div_ceil(64)] = {
    let mut bits = [0u64; PAIR_BITS.div_ceil(64)];
    let mut i = 0;
    while i < LEN {
        let w = TABLE[i].word.as_bytes();
        let bit = class(w[0]) * 37 + class(w[1]);
        bits[bit / 64] |= 1 << (bit % 64);
        i += 1;
    }
    bits
};

pub(super) const fn fnv1a(w: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < w.len() {
        h ^= w[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h as usize
}

pub(super) const SLOTS: usize = 4096;
const _: () = assert!(
    LEN * 2 < SLOTS,
    "the vocabulary outgrew its hash table: raise SLOTS"
);

/// An open-addressing hash of the table's distinct words: each slot holds one
/// plus the index of the first entry of its word (zero: empty).
pub(super) static HASH: [u16; SLOTS] = {
    let mut slots = [0u16; SLOTS];
    let mut i = 0;
    while i < LEN {
        if i == 0 || !same(TABLE[i - 1].word, TABLE[i].word) {
            let mut slot = fnv1a(TABLE[i].word.as_bytes()) % SLOTS;
            while slots[slot] != 0 {
                slot = (slot + 1) % SLOTS;
            }
            slots[slot] = (i + 1) as u16;
        }
        i += 1;
    }
    slots
};

/// Where the entries for exactly `w` are in the table, if it has any.
pub(super) fn entries(w: &[u8]) -> Option<(usize, &'static [Entry])> {
    let mut slot = fnv1a(w) % SLOTS;
    loop {
        let start = usize::from(HASH[slot]).checked_sub(1)?;
        if TABLE[start].word.as_bytes() == w {
            let mut end = start + 1;
            while end < LEN && TABLE[end].word.as_bytes() == w {
                end += 1;
            }
            return Some((start, &TABLE[start..end]));
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// The entries for a lower-case word or for its stem: plural, -ing and -ed forms
/// are tried when the word itself is unknown. The index of the first entry comes
/// along, so callers can remember which keywords they already counted.
pub(super) fn lookup(w: &[u8]) -> (usize, &'static [Entry]) {
    let n = w.len();
    if n < 2 {
        return (0, &[]);
    }
    let pair = class(w[0]) * 37 + class(w[1]);
    if PAIRS[pair / 64] & (1 << (pair % 64)) == 0 {
        return (0, &[]);
    }
    let hit = entries;
    if let Some(h) = hit(w) {
        return h;
    }
    if !(4..=MAX_WORD).contains(&n) {
        return (0, &[]);
    }
    let ends = |suffix: &[u8]| w.ends_with(suffix);
    let mut buf = [0u8; MAX_WORD];
    // plural: files, branches, entities
    if ends(b"ies") && n > 4 {
        buf[..n - 3].copy_from_slice(&w[..n - 3]);
        buf[n - 3] = b'y';
        if let Some(h) = hit(&buf[..n - 2]) {
            return h;
        }
    }
    if ends(b"s") && !ends(b"ss") && !ends(b"us") && !ends(b"is") {
        if let Some(h) = hit(&w[..n - 1]) {
            return h;
        }
        if ends(b"es")
            && let Some(h) = hit(&w[..n - 2])
        {
            return h;
        }
    }
    // -ing: crawling, scraping (scrape), running is not worth it
    if ends(b"ing") && n > 5 {
        let stem = &w[..n - 3];
        if let Some(h) = hit(stem) {
            return h;
        }
        buf[..n - 3].copy_from_slice(stem);
        buf[n - 3] = b'e';
        if let Some(h) = hit(&buf[..n - 2]) {
            return h;
        }
    }
    // -ed: crawled, created (create)
    if ends(b"ed") && n > 4 {
        if let Some(h) = hit(&w[..n - 2]) {
            return h;
        }
        if let Some(h) = hit(&w[..n - 1]) {
            return h;
        }
    }
    (0, &[])
}
