//! Giving freed heap back to the system after a burst.
//!
//! glibc keeps memory a burst of requests freed inside its heap, so a hub that once
//! served 64 connections at once stays that size. `malloc_trim` returns the free whole
//! pages; no allocator crate offers this for the system allocator, hence the two calls
//! by hand.

/// Free bytes inside the heap worth a trim: below this the walk is not worth it.
const TRIM_ABOVE: usize = 512 * 1024;

/// Returns freed heap pages to the system when more than `TRIM_ABOVE` lies free. Cheap
/// when there is nothing to do (one pass over the allocator's free lists); called by
/// the hub's housekeeping tick while no call is in flight.
pub fn trim_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: both are plain glibc calls without preconditions; mallinfo2 only
        // reads the allocator's statistics.
        let free = unsafe { libc::mallinfo2() }.fordblks;
        if free > TRIM_ABOVE {
            return unsafe { libc::malloc_trim(0) } == 1;
        }
    }
    false
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

    fn rss_kib() -> i64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }
}
