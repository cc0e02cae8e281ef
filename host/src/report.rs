//! Errors on one line with their causes, for logs and API messages.

/// An error and its causes on one line: the causes say exactly what is wrong (for example
/// which export a component lacks, or what the database refused).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("opening the store")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_the_error() {
        let error = Outer(std::io::Error::other("disk full"));
        assert_eq!(super::chain(&error), "opening the store: disk full");
    }
}
