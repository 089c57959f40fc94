//! A throw-away CA and a broker certificate for localhost, made with the
//! `openssl` command line tool (present on every machine we run on).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::util::{Result, run_quiet};

/// The files a TLS broker and its clients need.
#[derive(Debug)]
pub(crate) struct Certs {
    /// The CA certificate clients trust.
    pub(crate) ca: PathBuf,
    /// The broker's certificate chain.
    pub(crate) cert: PathBuf,
    /// The broker's private key (PKCS#8).
    pub(crate) key: PathBuf,
}

fn openssl(step: &str, dir: &Path, args: &[&str]) -> Result {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    run_quiet(&format!("openssl {step}"), &mut cmd).map(drop)
}

/// Generates a CA and a certificate for `localhost` and `127.0.0.1` in `dir`.
pub(crate) fn generate(dir: &Path) -> Result<Certs> {
    openssl(
        "CA",
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=gregor test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    openssl(
        "broker key",
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    std::fs::write(
        dir.join("broker.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .map_err(|e| format!("cannot write certificate extensions: {e}"))?;
    openssl(
        "broker certificate",
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "broker.pem",
            "-days",
            "2",
            "-extfile",
            "broker.ext",
        ],
    )?;
    Ok(Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("broker.pem"),
        key: dir.join("broker.key"),
    })
}
