//! Tamper-evident opaque texts: what we hand out to be given back (subscription cursors)
//! carries a MAC keyed by the server's secret, so a client can hold and return it but
//! not make one up. A forged or altered text is refused before anything reads it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A key for one purpose, derived from the server's secret: a text sealed for one
/// purpose does not open for another.
#[derive(Clone)]
pub struct Seal {
    key: HmacSha256,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(..)")
    }
}

impl Seal {
    pub fn new(secret: &[u8], purpose: &str) -> Seal {
        let mut derive = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(b"credit-gateway seal: ");
        derive.update(purpose.as_bytes());
        let key = derive.finalize().into_bytes();
        Seal {
            key: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
        }
    }

    /// `text`, base64url, then `.` and its MAC.
    pub fn seal(&self, text: &str) -> String {
        let mut mac = self.key.clone();
        mac.update(text.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(text),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The text of a sealed value, if this seal made it and nothing was changed.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let (body, tag) = sealed.split_once('.')?;
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.key.clone();
        mac.update(text.as_bytes());
        // Constant-time: a forger learns nothing from how fast a guess is refused.
        mac.verify_slice(&tag).ok()?;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_text_opens_only_unchanged_and_for_its_own_key_and_purpose() {
        let seal = Seal::new(b"server secret", "cursor");
        let sealed = seal.seal("f1|10:12:11");
        assert_eq!(seal.open(&sealed).as_deref(), Some("f1|10:12:11"));
        let (body, tag) = sealed.split_once('.').unwrap();
        let altered = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("f1|10:12:1,2,3"));
        assert_eq!(seal.open(&altered), None, "another text under the same tag");
        assert_eq!(seal.open(body), None, "no tag");
        assert_eq!(seal.open(&format!("{body}.{}", &tag[1..])), None);
        assert_eq!(Seal::new(b"other secret", "cursor").open(&sealed), None);
        assert_eq!(Seal::new(b"server secret", "export").open(&sealed), None);
        assert_eq!(seal.open("..."), None);
    }
}
