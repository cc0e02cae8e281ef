//! One test per fixture case folder (see `tests/fixtures.rs`).

fn main() {
    tailor_guest_build::fixtures::write_tests();
}
