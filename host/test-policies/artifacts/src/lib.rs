//! Test policies for the host, compiled to components at build time: one constant per policy
//! and `foreach_test_policy!` to visit them all.

include!(concat!(env!("OUT_DIR"), "/test_policies.rs"));
