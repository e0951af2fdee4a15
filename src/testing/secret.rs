//! The token endpoint's client-secret check. Its timing must tell neither whether a client id
//! exists nor how long a client's secrets are: it compares fixed-length keyed digests in
//! constant time, every one of them, and does the same work for an unknown client.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;

/// The digest key and the stand-in secret of one issuer, both random.
pub(crate) struct SecretCheck {
    /// Keys HMAC-SHA-256 digests of presented and stored secrets: every digest is 32 bytes,
    /// so comparing them reveals nothing of the secrets' lengths.
    key: hmac::Key,
    /// Compared with when the client is unknown (or has no secret left), so that such a
    /// request costs what a known client's does.
    stand_in: [u8; 32],
}

impl SecretCheck {
    /// # Panics
    /// If the system random generator fails (it does not on a working system).
    pub(crate) fn new() -> Self {
        let mut key = [0; 32];
        let mut stand_in = [0; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system random generator works");
        aws_lc_rs::rand::fill(&mut stand_in).expect("the system random generator works");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            stand_in,
        }
    }

    /// Whether `presented` is one of `stored`, a client's secrets (`None`: no such client).
    pub(crate) fn matches(&self, presented: &[u8], stored: Option<&[String]>) -> bool {
        let known = stored.is_some_and(|secrets| !secrets.is_empty());
        let presented = self.digest(presented);
        // No early exit: each candidate costs the same whether or not an earlier one matched.
        let found = self.candidates(stored).fold(false, |found, candidate| {
            found
                | verify_slices_are_equal(presented.as_ref(), self.digest(candidate).as_ref())
                    .is_ok()
        });
        found & known
    }

    /// The client's secrets, or the stand-in when there are none to compare with.
    fn candidates<'a>(&'a self, stored: Option<&'a [String]>) -> impl Iterator<Item = &'a [u8]> {
        let secrets = stored.unwrap_or_default();
        let stand_in = secrets.is_empty().then_some(&self.stand_in[..]);
        secrets.iter().map(String::as_bytes).chain(stand_in)
    }

    fn digest(&self, secret: &[u8]) -> hmac::Tag {
        hmac::sign(&self.key, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn digests_have_one_length_whatever_the_secret_length() {
        let check = SecretCheck::new();
        for len in [0, 1, 31, 32, 33, 1000] {
            assert_eq!(check.digest(&vec![b's'; len]).as_ref().len(), 32, "{len}");
        }
    }

    #[test]
    fn an_unknown_client_is_compared_with_the_stand_in() {
        let check = SecretCheck::new();
        let stand_in = [&check.stand_in[..]];
        assert!(check.candidates(None).eq(stand_in));
        assert!(check.candidates(Some(&[])).eq(stand_in), "no secret left");
        let two = secrets(&["s1", "s2"]);
        assert!(check.candidates(Some(&two)).eq([&b"s1"[..], b"s2"]));
    }

    #[test]
    fn the_stand_in_never_authenticates() {
        let check = SecretCheck::new();
        assert!(!check.matches(&check.stand_in, None));
        assert!(!check.matches(&check.stand_in, Some(&[])));
    }

    #[test]
    fn any_of_the_clients_secrets_matches_and_nothing_else() {
        let check = SecretCheck::new();
        let stored = secrets(&["old-secret", "new-secret"]);
        assert!(check.matches(b"old-secret", Some(&stored)));
        assert!(check.matches(b"new-secret", Some(&stored)));
        for wrong in [&b""[..], b"new", b"new-secret ", b"NEW-SECRET", b"other"] {
            assert!(!check.matches(wrong, Some(&stored)), "{wrong:?}");
        }
    }
}
