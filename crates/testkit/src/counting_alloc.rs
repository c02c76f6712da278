//! A counting global allocator, for tests that prove a path allocates nothing.
//!
//! Owns only naming the counter: the allocator is stats_alloc's instrumented system
//! allocator (its `unsafe impl GlobalAlloc` lives there, so this crate forbids unsafe
//! like every crate but gnomon-sys). gnomond never installs it; a test binary does with
//! `#[global_allocator] static A: CountingAllocator = COUNTING_ALLOCATOR;`.

use std::alloc::System;

/// The type of the allocator to install as `#[global_allocator]`.
pub type CountingAllocator = &'static stats_alloc::StatsAlloc<System>;

/// The allocator itself: counts every request, then forwards to [`System`].
pub const COUNTING_ALLOCATOR: CountingAllocator = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Allocations so far (all threads): `alloc`, `alloc_zeroed` and `realloc` calls.
pub fn allocations() -> usize {
    let stats = stats_alloc::INSTRUMENTED_SYSTEM.stats();
    stats.allocations + stats.reallocations
}
