//! One HTTP client for outside services (to be written: see /work/wt/CONTRACTS.md, part A).
