//! In-memory products.
