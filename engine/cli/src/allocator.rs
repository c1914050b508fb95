//! The process allocator's settings (glibc malloc), made in `main` before any other thread
//! exists.
//!
//! glibc gives every thread that finds the heap busy an arena of its own (up to eight per
//! core), and an arena keeps what its threads freed for their own later use. A run moves
//! from stage to stage on different threads (decoders, typing threads, writers, DataFusion's
//! workers), so what one stage freed stayed in arenas the next stage's threads did not
//! use, on top of what that stage held. One arena per core (at least two): measured on the
//! 2-core benchmark machine (benches/README.md, "SF 10 within 2 GiB"), the SF 1 lineitem
//! job peaked at 816–874 MiB instead of 927–934 at the same CPU, and the SF 10 job at
//! 1,783 MiB instead of 2,254; one arena was lower still but cost ~5% CPU in lock waits.
//!
//! `MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, in the environment
//! wins: nothing is set then.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure() {
    let tuned = std::env::var_os("GLIBC_TUNABLES")
        .is_some_and(|t| t.to_string_lossy().contains("glibc.malloc.arena_max"));
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() || tuned {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = cores.clamp(2, 64) as libc::c_int;
    // SAFETY: mallopt is not thread-safe; it runs first in `main`, before any other thread
    // exists, and only sets one of malloc's parameters.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    if ok != 1 {
        // Only memory use differs (glibc's default arenas); say so for whoever looks at RSS.
        tracing::debug!("mallopt(M_ARENA_MAX) was refused; the allocator keeps its defaults");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}
