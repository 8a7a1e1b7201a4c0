//! Giving freed heap back to the system after a burst.
//!
//! glibc keeps memory a burst of requests freed inside its heap, so a hub that once
//! served 64 connections at once stays that size. `malloc_trim` returns the free whole
//! pages; no allocator crate offers this for the system allocator, hence the calls by
//! hand, and a count of the bytes in use that tells, without walking the heap, when a
//! trim is worth it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes freed since the last trim worth a trim while the heap is busy: below this
/// the walk is not worth it, and the memory would be asked for again soon.
const TRIM_ABOVE: usize = 512 * 1024;

/// Bytes freed since the last trim worth a trim once the heap has stood still for a
/// tick: the burst is over, and the last of what it freed is given back too.
const QUIET_TRIM_ABOVE: usize = 64 * 1024;

/// Bytes handed out and not yet taken back, and their highest point since the last
/// trim; kept by [`CountingAllocator`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes it holds for the program. The trim's
/// trigger reads the count in O(1): glibc's own figures (`mallinfo`) walk every free
/// chunk under the heap's lock, which once a burst has fragmented the heap blocks the
/// hub's one thread for 10 ms and more, on every tick. Written by hand: the wrapper is
/// a few lines, and counting crates add features and locks the tick does not need.
pub struct CountingAllocator;

fn counted_in(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    // A plain load first: the peak moves rarely, and a lost race only misses a
    // little of it.
    if live > PEAK.load(Relaxed) {
        PEAK.store(live, Relaxed);
    }
}

fn counted_out(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; the counts are
// only read.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            counted_in(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            counted_in(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) };
        counted_out(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            counted_out(layout.size());
            counted_in(new_size);
        }
        p
    }
}

/// Returns freed heap pages to the system when more than `TRIM_ABOVE` has been freed
/// since the last trim, or `QUIET_TRIM_ABOVE` once the heap is still. Called by the
/// hub's housekeeping tick while no call is in flight; O(1) when there is nothing to
/// do. Without [`CountingAllocator`] installed there is no count, and no trim.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_free_heap() -> bool {
    static LAST_TICK: AtomicUsize = AtomicUsize::new(0);
    let live = LIVE.load(Relaxed);
    if live == 0 {
        return false;
    }
    let freed = PEAK.load(Relaxed).saturating_sub(live);
    let still = live.abs_diff(LAST_TICK.swap(live, Relaxed)) < QUIET_TRIM_ABOVE;
    if !worth_a_trim(freed, still) {
        return false;
    }
    // SAFETY: a plain glibc call without preconditions.
    let trimmed = unsafe { libc::malloc_trim(0) } == 1;
    PEAK.store(LIVE.load(Relaxed), Relaxed);
    trimmed
}

/// Other allocators return memory on their own, or offer no way to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_free_heap() -> bool {
    false
}

fn worth_a_trim(freed_since_last_trim: usize, still: bool) -> bool {
    freed_since_last_trim > if still { QUIET_TRIM_ABOVE } else { TRIM_ABOVE }
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

#[cfg(test)]
mod tests {
    // As the `mcphub` binary does: the trim's trigger is the count.
    #[global_allocator]
    static COUNTING: super::CountingAllocator = super::CountingAllocator;

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
        assert!(super::worth_a_trim(600 << 10, false));
        assert!(!super::worth_a_trim(100 << 10, false));
        assert!(!super::worth_a_trim(0, false));
    }

    #[test]
    fn a_still_heap_gives_back_the_last_of_a_burst() {
        assert!(super::worth_a_trim(100 << 10, true));
        assert!(!super::worth_a_trim(10 << 10, true));
        assert!(!super::worth_a_trim(0, true));
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
