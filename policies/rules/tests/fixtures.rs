//! Every fixture case under `fixtures/` gives its expected decision, natively.

tailor_guest::fixture_tests!(rules::Rules);
