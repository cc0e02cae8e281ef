//! Every fixture case under `fixtures/` gives its expected decision, natively.

tailor_guest::fixture_tests!(next_best_offer::NextBestOffer);
