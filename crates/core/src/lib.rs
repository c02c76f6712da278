//! gnomon-core: the synchronization engine, sans-IO (work in progress; see issue 3).

#![forbid(unsafe_code)]
