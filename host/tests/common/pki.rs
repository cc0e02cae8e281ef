//! Test credentials: a private CA and a server certificate (openssl), and htpasswd files with
//! bcrypt lines (`htpasswd` from apache2-utils), for the servers that check them.

use super::packages;
use std::path::Path;

/// A CA and a certificate it signed for `ip`, made with openssl in `dir`: `ca.pem`,
/// `server.pem`, `server.key`.
pub fn certificates(dir: &Path, ip: &str) {
    let openssl = packages::require(packages::OPENSSL);
    let run = |args: &[&str]| {
        let output = super::run(
            std::process::Command::new(&openssl)
                .args(args)
                .current_dir(dir),
        );
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            super::describe(&output)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tailor test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=broker",
        ],
    ]
    .concat());
    std::fs::write(dir.join("san.ext"), format!("subjectAltName=IP:{ip}\n")).unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// An htpasswd file at `path` admitting `user` with `password` (bcrypt, as the distribution
/// registry requires).
pub fn htpasswd(path: &Path, user: &str, password: &str) {
    let htpasswd = packages::require(packages::HTPASSWD);
    let output = super::run(std::process::Command::new(htpasswd).args(["-nbB", user, password]));
    assert!(
        output.status.success(),
        "htpasswd: {}",
        super::describe(&output)
    );
    std::fs::write(path, &output.stdout).unwrap();
}
