//! Helpers shared by the devstack integration tests.

pub mod hostile;
