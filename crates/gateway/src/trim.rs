//! Gives freed heap back to the system. A catalogue refresh parses, classifies and hashes whole
//! tool lists (hundreds of thousands of small allocations for a few large servers); glibc's
//! allocator keeps what they freed, so without [`release_freed_memory`] an idle gateway would
//! hold tens of megabytes it no longer uses. And large messages (answers of a few MiB held while
//! a slow client is cut off) would stay resident after they are freed: glibc gives a large
//! allocation a mapping of its own, returned when freed, but raises that threshold to the size of
//! each such block freed (up to 32 MiB) — so [`map_large_buffers`] fixes it at 1 MiB.

/// Returns the allocator's free pages to the system (a few milliseconds; call it rarely).
/// One of the two `unsafe` of the gateway: foreign calls without preconditions.
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Allocations of 1 MiB and more get mappings of their own, returned to the system when freed
/// (twenty unread 10 MiB answers, cut off, left 107 MiB resident before; none after). Call it
/// once at start, before serving.
#[allow(unsafe_code)]
pub fn map_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it has no preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
