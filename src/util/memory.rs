//! Giving freed heap back to the system after a burst.
//!
//! glibc keeps memory a burst of requests freed inside its heap, so a hub that once
//! served 64 connections at once stays that size. `malloc_trim` returns the free whole
//! pages; no allocator crate offers this for the system allocator, hence the two calls
//! by hand.

/// Newly freed bytes inside the heap worth a trim while the heap is busy: below this
/// the walk is not worth it, and the memory would be asked for again soon.
const TRIM_ABOVE: usize = 512 * 1024;

/// Newly freed bytes worth a trim once the heap has stood still for a tick: the
/// burst is over, and the last of what it freed is given back too.
const QUIET_TRIM_ABOVE: usize = 64 * 1024;

/// Returns freed heap pages to the system when more than `TRIM_ABOVE` has been freed
/// since the last trim, or `QUIET_TRIM_ABOVE` once the heap is still. Cheap when there
/// is nothing to do (one pass over the allocator's free lists); called by the hub's
/// housekeeping tick while no call is in flight.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_free_heap() -> bool {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Free bytes right after the last trim: pages a trim gave back still count as free,
    // so without it every quiet tick would trim again.
    static AFTER_LAST_TRIM: AtomicUsize = AtomicUsize::new(0);
    static LAST_TICK: AtomicUsize = AtomicUsize::new(0);
    let floor = AFTER_LAST_TRIM.load(Ordering::Relaxed);
    let free = heap_free_bytes();
    let still = free.abs_diff(LAST_TICK.swap(free, Ordering::Relaxed)) < QUIET_TRIM_ABOVE;
    if !worth_a_trim(free, floor, still) {
        // Memory taken back into use lowers the floor.
        AFTER_LAST_TRIM.store(floor.min(free), Ordering::Relaxed);
        return false;
    }
    // SAFETY: a plain glibc call without preconditions.
    let trimmed = unsafe { libc::malloc_trim(0) } == 1;
    AFTER_LAST_TRIM.store(heap_free_bytes(), Ordering::Relaxed);
    trimmed
}

/// Other allocators return memory on their own, or offer no way to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_free_heap() -> bool {
    false
}

fn worth_a_trim(free: usize, free_after_last_trim: usize, still: bool) -> bool {
    let above = if still { QUIET_TRIM_ABOVE } else { TRIM_ABOVE };
    free > free_after_last_trim.saturating_add(above)
}

/// What the allocator holds: bytes handed out (in its arenas and in their own
/// mappings) and bytes it keeps free. Free bytes that stay resident after a trim lie
/// in pages that still hold something live: the heap is fragmented, not leaking.
pub struct Heap {
    pub in_use: usize,
    pub free: usize,
}

/// glibc's figures. `mallinfo`, not `mallinfo2`: the latter needs glibc 2.33, and a
/// count that wraps past 4 GiB only costs a wrong gauge or a missed or extra trim.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    // SAFETY: reads the allocator's statistics; no preconditions.
    let m = unsafe { libc::mallinfo() };
    Some(Heap {
        in_use: (m.uordblks as u32) as usize + (m.hblkhd as u32) as usize,
        free: (m.fordblks as u32) as usize,
    })
}

/// Other allocators keep their own statistics, if any.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_free_bytes() -> usize {
    heap().map_or(0, |h| h.free)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_freed_burst_goes_back_to_the_system() {
        // 64 MiB touched in 64 KiB pieces (below the mmap threshold, so on the heap),
        // then freed but for every 16th piece, which pins the heap's top so that free()
        // alone cannot shrink it.
        let mut pieces: Vec<Vec<u8>> = (0..1024).map(|_| vec![1u8; 64 * 1024]).collect();
        let kept: Vec<Vec<u8>> = pieces
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| i % 16 == 15)
            .map(|(_, p)| std::mem::take(p))
            .collect();
        drop(pieces);
        let before = rss_kib();
        assert!(super::trim_free_heap(), "nothing was trimmed");
        let after = rss_kib();
        assert!(
            before - after > 32 * 1024,
            "RSS {before} KiB -> {after} KiB after the trim"
        );
        drop(kept);
    }

    #[test]
    fn a_busy_heap_waits_for_half_a_mebibyte_freed_since_the_last_trim() {
        let last = 3 << 20;
        assert!(super::worth_a_trim(last + (600 << 10), last, false));
        // Pages the last trim gave back still count as free: no trim on every tick.
        assert!(!super::worth_a_trim(last, last, false));
        assert!(!super::worth_a_trim(last + (100 << 10), last, false));
        assert!(!super::worth_a_trim(usize::MAX, usize::MAX - 1, false));
    }

    #[test]
    fn a_still_heap_gives_back_the_last_of_a_burst() {
        let last = 3 << 20;
        assert!(super::worth_a_trim(last + (100 << 10), last, true));
        assert!(!super::worth_a_trim(last + (10 << 10), last, true));
        assert!(!super::worth_a_trim(last, last, true));
    }

    fn rss_kib() -> i64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }
}
