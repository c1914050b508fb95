//! The process allocator's settings (glibc malloc), made in `main` before the runtime's
//! threads start.
//!
//! glibc gives every thread that finds the heap busy an arena of its own (up to eight per
//! core), and an arena keeps what its threads freed for their own later use. A run moves
//! from stage to stage on different threads (decoders, typing threads, writers, DataFusion's
//! workers), so what one stage freed stayed in arenas the next stage's threads did not
//! use, on top of what that stage held. Two arenas: measured on the SF 1 lineitem job
//! (benches/README.md), peak RSS 816–874 MiB instead of 935–948 at the same CPU; one arena
//! was lower still (~790) but cost ~5% CPU in lock waits.
//!
//! `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` in the environment win: nothing is set then.

/// Arenas of the process heap.
pub const ARENAS: i32 = 2;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    // SAFETY: mallopt sets one of malloc's parameters; it has no other effect.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) };
    if ok != 1 {
        // Only memory use differs (the default arenas); say so for whoever looks at RSS.
        tracing::debug!("mallopt(M_ARENA_MAX) was refused; the allocator keeps its defaults");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}
