#[test]
fn fixture_cases_pass_natively() {
    let passed = tailor_guest::testing::check_fixtures::<kiosk_greeting::KioskGreeting>(env!("CARGO_MANIFEST_DIR").as_ref());
    assert!(passed >= 4);
}
