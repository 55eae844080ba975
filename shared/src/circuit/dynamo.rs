//! The shared circuit breaker on DynamoDB (to be written: see /work/wt/CONTRACTS.md, part C).
