//! When to collect: a pure state machine the embedder drives (placeholder;
//! being written).

/// Decides when to collect.
#[derive(Debug)]
pub struct Scheduler;
