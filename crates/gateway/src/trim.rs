//! Gives freed heap back to the system after a burst of short-lived allocations. A catalogue
//! refresh parses, classifies and hashes whole tool lists (hundreds of thousands of small
//! allocations for a few large servers); glibc's allocator keeps what they freed, so without this
//! an idle gateway would hold tens of megabytes it no longer uses.

/// Returns the allocator's free pages to the system (a few milliseconds; call it rarely).
/// The one `unsafe` of the gateway: a foreign call without preconditions.
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
