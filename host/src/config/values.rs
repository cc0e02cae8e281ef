//! Option values that are more than a number or a path, parsed the same way from a flag, a
//! variable and the file.

use crate::distribution::Follow;
use serde::{Deserialize, Deserializer, Serializer};
use std::net::{SocketAddr, ToSocketAddrs};

/// `host:port`, an IP address or a host name; a name resolves to its first address.
pub(super) fn listen(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?} is not a host:port to listen on ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

pub(super) fn deserialize_listen<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    listen(&text).map_err(serde::de::Error::custom)
}

/// `follow` entries as the `<name>=<reference>` strings a user writes.
pub(super) mod follow_list {
    use super::*;

    pub(in crate::config) fn serialize<S: Serializer>(
        follows: &[Follow],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            follows
                .iter()
                .map(|follow| format!("{}={}", follow.name, follow.reference)),
        )
    }

    pub(in crate::config) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Follow>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| Follow::parse(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_addresses_and_host_names() {
        assert_eq!(
            listen("127.0.0.1:9000"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9000)))
        );
        assert_eq!(listen("[::1]:9000").map(|a| a.port()), Ok(9000));
        let local = listen("localhost:8080").unwrap();
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 8080);
        for bad in ["nowhere", "localhost", "127.0.0.1:http", ""] {
            assert!(listen(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
