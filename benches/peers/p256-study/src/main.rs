//! One ES256 verification, library against library.
//!
//! ```text
//! p256-study [ROUNDS]        all cases, interleaved; a markdown table on stdout
//! p256-study loop CASE SECS  one case in a loop (for `perf record`)
//! ```
//!
//! Every case verifies the same signature over the same message with the same key (the
//! fixture `ec-p256.pem`), or hashes that message. A round runs every case once, for about
//! `STUDY_SAMPLE_MS` (20) ms each, in an order rotated by one each round, so that a load from
//! other processes falls on all cases alike; the table gives the median (and the quartiles)
//! over the rounds of the mean ns per operation within a sample.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};

/// Length of the signed part (`header.payload`) of the peer comparison's ES256 tokens.
const MESSAGE_LEN: usize = 276;

/// Everything a case needs, prepared once.
struct Fixture {
    message: Vec<u8>,
    /// `r ‖ s`, 64 bytes (JWS).
    signature: Vec<u8>,
    /// The uncompressed SEC1 point, 65 bytes (what a JWK's `x`, `y` become).
    point: Vec<u8>,
    digest: [u8; 32],
    /// The same digest as aws-lc-rs's `Digest` type.
    awslc_digest: aws_lc_rs::digest::Digest,
    awslc_parsed: aws_lc_rs::signature::ParsedPublicKey,
    awslc_raw: AwsLcRaw,
    openssl_key: EcKey<Public>,
    openssl_sig: EcdsaSig,
    p256_key: p256::ecdsa::VerifyingKey,
    /// RS256 for comparison (a CPU-feature mask touches RSA too): PKCS#1 public key DER,
    /// the key parsed once, a signature over the same message.
    rsa_der: Vec<u8>,
    rsa_parsed: aws_lc_rs::signature::ParsedPublicKey,
    rsa_signature: Vec<u8>,
}

/// aws-lc's C API without aws-lc-rs: an `EC_KEY` and an `ECDSA_SIG` built once.
struct AwsLcRaw {
    key: *mut aws_lc_sys::EC_KEY,
    sig: *mut aws_lc_sys::ECDSA_SIG,
}

impl AwsLcRaw {
    fn new(point: &[u8], signature: &[u8]) -> Self {
        use aws_lc_sys::*;
        unsafe {
            let key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
            assert!(!key.is_null());
            let group = EC_KEY_get0_group(key);
            let p = EC_POINT_new(group);
            assert_eq!(
                EC_POINT_oct2point(group, p, point.as_ptr(), point.len(), std::ptr::null_mut()),
                1
            );
            assert_eq!(EC_KEY_set_public_key(key, p), 1);
            EC_POINT_free(p);
            let sig = ECDSA_SIG_new();
            let r = BN_bin2bn(signature.as_ptr(), 32, std::ptr::null_mut());
            let s = BN_bin2bn(signature[32..].as_ptr(), 32, std::ptr::null_mut());
            assert_eq!(ECDSA_SIG_set0(sig, r, s), 1);
            Self { key, sig }
        }
    }

    fn verify_digest(&self, digest: &[u8; 32]) -> bool {
        unsafe { aws_lc_sys::ECDSA_do_verify(digest.as_ptr(), 32, self.sig, self.key) == 1 }
    }
}

fn fixture() -> Fixture {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let pem = std::fs::read(root.join("fixtures/ec-p256.pem")).expect("fixtures/ec-p256.pem");
    let private = PKey::private_key_from_pem(&pem).expect("an EC private key");
    let pkcs8 = private.private_key_to_pkcs8().expect("PKCS#8");
    let ec = private.ec_key().expect("EC");
    let mut ctx = BigNumContext::new().unwrap();
    let point = ec
        .public_key()
        .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
        .unwrap();

    // A JWS signing input's alphabet, the length of the peer comparison's tokens.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let len: usize = std::env::var("STUDY_MESSAGE_LEN")
        .ok()
        .map_or(MESSAGE_LEN, |v| v.parse().expect("a length"));
    let message: Vec<u8> = (0..len)
        .map(|i| if i == 36 { b'.' } else { alphabet[(i * 7 + 3) % 64] })
        .collect();

    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
    )
    .expect("aws-lc key pair");
    let signature = pair.sign(&rng, &message).unwrap().as_ref().to_vec();
    assert_eq!(signature.len(), 64);
    let digest: [u8; 32] = openssl::sha::sha256(&message);

    let openssl_key = EcKey::from_public_key(
        &EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap(),
        ec.public_key(),
    )
    .unwrap();
    let openssl_sig = EcdsaSig::from_private_components(
        BigNum::from_slice(&signature[..32]).unwrap(),
        BigNum::from_slice(&signature[32..]).unwrap(),
    )
    .unwrap();
    let rsa_pem = std::fs::read(root.join("fixtures/rsa2048.pem")).expect("fixtures/rsa2048.pem");
    let rsa = PKey::private_key_from_pem(&rsa_pem).expect("an RSA private key");
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &rsa).unwrap();
    let rsa_signature = signer.sign_oneshot_to_vec(&message).unwrap();
    let rsa_der = rsa.rsa().unwrap().public_key_to_der_pkcs1().unwrap();
    Fixture {
        rsa_parsed: aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &rsa_der,
        )
        .unwrap(),
        rsa_der,
        rsa_signature,
        awslc_parsed: aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            &point,
        )
        .unwrap(),
        awslc_raw: AwsLcRaw::new(&point, &signature),
        awslc_digest: aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message),
        p256_key: p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap(),
        openssl_key,
        openssl_sig,
        message,
        signature,
        point,
        digest,
    }
}

/// One operation of a case; returns whether it succeeded (every case must).
type Op = fn(&Fixture) -> bool;

const CASES: &[(&str, &str, Op)] = &[
    (
        "aws-lc-rs UnparsedPublicKey::verify",
        "aws-lc-rs 1.19 `UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, sig)`: parses the point, hashes, verifies",
        |f| {
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                black_box(&f.point),
            )
            .verify(black_box(&f.message), black_box(&f.signature))
            .is_ok()
        },
    ),
    (
        "aws-lc-rs ParsedPublicKey::verify_sig",
        "aws-lc-rs 1.19 `ParsedPublicKey` built once (what bearer-guard does), `verify_sig(msg, sig)`",
        |f| {
            f.awslc_parsed
                .verify_sig(black_box(&f.message), black_box(&f.signature))
                .is_ok()
        },
    ),
    (
        "aws-lc-rs ParsedPublicKey::verify_digest_sig",
        "the same, on a SHA-256 digest computed before (no hashing in the case)",
        |f| {
            f.awslc_parsed
                .verify_digest_sig(black_box(&f.awslc_digest), black_box(&f.signature))
                .is_ok()
        },
    ),
    (
        "aws-lc (C) ECDSA_do_verify",
        "aws-lc-sys 0.47 C API, no aws-lc-rs: `ECDSA_do_verify(digest, sig, key)`, `EC_KEY` and `ECDSA_SIG` built once, digest computed before",
        |f| f.awslc_raw.verify_digest(black_box(&f.digest)),
    ),
    (
        "ring UnparsedPublicKey::verify",
        "ring 0.17.14 `UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, sig)`: parses the point, hashes, verifies",
        |f| {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                black_box(&f.point),
            )
            .verify(black_box(&f.message), black_box(&f.signature))
            .is_ok()
        },
    ),
    (
        "OpenSSL sha256 + EcdsaSig::verify",
        "openssl 0.10 (system OpenSSL 3.0): `sha256(msg)`, `EcdsaSig::from_private_components(r, s)`, `verify(digest, EcKey)` (EcKey built once)",
        |f| {
            let digest = openssl::sha::sha256(black_box(&f.message));
            let sig = EcdsaSig::from_private_components(
                BigNum::from_slice(&f.signature[..32]).unwrap(),
                BigNum::from_slice(&f.signature[32..]).unwrap(),
            )
            .unwrap();
            sig.verify(&digest, &f.openssl_key).unwrap_or(false)
        },
    ),
    (
        "OpenSSL EcdsaSig::verify",
        "the same, `EcdsaSig` built once, digest computed before (no hashing in the case)",
        |f| {
            f.openssl_sig
                .verify(black_box(&f.digest), &f.openssl_key)
                .unwrap_or(false)
        },
    ),
    (
        "RustCrypto p256 verify",
        "p256 0.13 `VerifyingKey` built once, `verify(msg, &Signature::from_slice(sig))`",
        |f| {
            use p256::ecdsa::signature::Verifier;
            let sig = p256::ecdsa::Signature::from_slice(black_box(&f.signature)).unwrap();
            f.p256_key.verify(black_box(&f.message), &sig).is_ok()
        },
    ),
    (
        "RS256: aws-lc-rs ParsedPublicKey::verify_sig",
        "for comparison: RSA 2048 PKCS#1 v1.5 SHA-256, aws-lc-rs `ParsedPublicKey` built once",
        |f| {
            f.rsa_parsed
                .verify_sig(black_box(&f.message), black_box(&f.rsa_signature))
                .is_ok()
        },
    ),
    (
        "RS256: ring UnparsedPublicKey::verify",
        "for comparison: the same with ring 0.17 `RSA_PKCS1_2048_8192_SHA256`",
        |f| {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                black_box(&f.rsa_der),
            )
            .verify(black_box(&f.message), black_box(&f.rsa_signature))
            .is_ok()
        },
    ),
    (
        "SHA-256: aws-lc-rs digest",
        "`aws_lc_rs::digest::digest(&SHA256, msg)`",
        |f| {
            black_box(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                black_box(&f.message),
            ));
            true
        },
    ),
    (
        "SHA-256: ring digest",
        "`ring::digest::digest(&SHA256, msg)`",
        |f| {
            black_box(ring::digest::digest(&ring::digest::SHA256, black_box(&f.message)));
            true
        },
    ),
    (
        "SHA-256: OpenSSL",
        "`openssl::sha::sha256(msg)`",
        |f| {
            black_box(openssl::sha::sha256(black_box(&f.message)));
            true
        },
    ),
    (
        "SHA-256: sha2",
        "`sha2::Sha256::digest(msg)` (RustCrypto)",
        |f| {
            use sha2::Digest;
            black_box(sha2::Sha256::digest(black_box(&f.message)));
            true
        },
    ),
];

/// This thread's CPU time: unlike the wall clock it stops while the thread waits for a core,
/// which matters on a machine shared with other benchmarks (load average 4 to 8 on 2 cores
/// during these runs). `STUDY_CLOCK=wall` switches to the wall clock.
fn now() -> Duration {
    if WALL.with(|w| *w) {
        return EPOCH.with(|e| e.elapsed());
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

thread_local! {
    static WALL: bool = std::env::var("STUDY_CLOCK").is_ok_and(|v| v == "wall");
    static EPOCH: Instant = Instant::now();
}

fn run(op: Op, f: &Fixture, n: u64) -> Duration {
    let start = now();
    for _ in 0..n {
        assert!(op(black_box(f)));
    }
    now() - start
}

fn median(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("summary") {
        summary(&args[2..]);
        return;
    }
    let f = fixture();
    // Every case must succeed before anything is timed.
    for (name, _, op) in CASES {
        assert!(op(&f), "{name} failed to verify");
    }

    if args.get(1).map(String::as_str) == Some("loop") {
        let wanted = &args[2];
        let secs: f64 = args.get(3).map_or(5.0, |s| s.parse().unwrap());
        let (name, _, op) = CASES
            .iter()
            .find(|(n, _, _)| n.contains(wanted.as_str()))
            .expect("a case name (substring)");
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            run(*op, &f, 1000);
            n += 1000;
        }
        eprintln!(
            "{name}: {n} ops, {:.0} ns/op",
            start.elapsed().as_nanos() as f64 / n as f64
        );
        return;
    }

    let rounds: usize = args.get(1).map_or(31, |s| s.parse().expect("ROUNDS"));
    let sample_ms: u64 = std::env::var("STUDY_SAMPLE_MS")
        .ok()
        .map_or(10, |v| v.parse().unwrap());
    let only = std::env::var("STUDY_ONLY").ok();
    let cases: Vec<_> = CASES
        .iter()
        .filter(|(n, _, _)| only.as_deref().is_none_or(|o| o.split(',').any(|o| n.contains(o))))
        .collect();

    // Size each case's sample to ~sample_ms from a warm-up of 200 ms.
    let per_sample: Vec<u64> = cases
        .iter()
        .map(|(_, _, op)| {
            let mut spent = Duration::ZERO;
            let mut n = 0u64;
            while spent < Duration::from_millis(200) {
                spent += run(*op, &f, 10);
                n += 10;
            }
            let ns = spent.as_nanos() as f64 / n as f64;
            ((sample_ms as f64 * 1e6 / ns) as u64).max(10)
        })
        .collect();

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let n = per_sample[i];
            let t = run(cases[i].2, &f, n);
            samples[i].push(t.as_nanos() as f64 / n as f64);
        }
    }

    // STUDY_TSV=FILE appends every sample as `label<TAB>case<TAB>ns` (label: STUDY_LABEL), for
    // `p256-study summary FILE` to pool runs made under different settings.
    if let Ok(path) = std::env::var("STUDY_TSV") {
        use std::io::Write;
        let label = std::env::var("STUDY_LABEL").unwrap_or_else(|_| "default".to_owned());
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("STUDY_TSV");
        for (i, (name, _, _)) in cases.iter().enumerate() {
            for ns in &samples[i] {
                writeln!(out, "{label}\t{name}\t{ns:.1}").unwrap();
            }
        }
    }

    println!(
        "message {} bytes, {rounds} rounds × ~{sample_ms} ms per case, interleaved, {} clock",
        f.message.len(),
        if WALL.with(|w| *w) { "wall" } else { "thread CPU" }
    );
    println!();
    println!("| case | median ns/op | p25 | p75 | min |");
    println!("|---|--:|--:|--:|--:|");
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let mut s = samples[i].clone();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            median(&s, 0.5),
            median(&s, 0.25),
            median(&s, 0.75),
            s[0]
        );
    }
    if std::env::var("STUDY_DESCRIBE").is_ok() {
        println!();
        for (name, what, _) in &cases {
            println!("- **{name}**: {what}");
        }
    }
}

/// The pooled samples of `STUDY_TSV` files: per case, one column per label (median ns/op
/// over every sample of every run with that label, and the number of samples).
fn summary(files: &[String]) {
    let mut labels: Vec<String> = Vec::new();
    let mut cases: Vec<String> = Vec::new();
    let mut samples: std::collections::HashMap<(String, String), Vec<f64>> = Default::default();
    for file in files {
        let text = std::fs::read_to_string(file).expect("a TSV file");
        for line in text.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let (label, case, ns) = (f[0].to_owned(), f[1].to_owned(), f[2].parse().unwrap());
            if !labels.contains(&label) {
                labels.push(label.clone());
            }
            if !cases.contains(&case) {
                cases.push(case.clone());
            }
            samples.entry((label, case)).or_default().push(ns);
        }
    }
    println!("| case | {} |", labels.join(" | "));
    println!("|---|{}", "--:|".repeat(labels.len()));
    for case in &cases {
        let cells: Vec<String> = labels
            .iter()
            .map(|label| match samples.get(&(label.clone(), case.clone())) {
                Some(s) => {
                    let mut s = s.clone();
                    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    format!("{:.0} (n={})", median(&s, 0.5), s.len())
                }
                None => "–".to_owned(),
            })
            .collect();
        println!("| {case} | {} |", cells.join(" | "));
    }
}
