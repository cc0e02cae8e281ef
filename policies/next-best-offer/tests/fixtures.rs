#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

#[test]
fn fixture_cases_pass_natively() {
    let passed = tailor_guest::testing::check_fixtures::<next_best_offer::NextBestOffer>(
        env!("CARGO_MANIFEST_DIR").as_ref(),
    );
    assert!(passed >= 4);
}
