//! Who a client certificate says the client is, for `verify_and_map` (nats-server's
//! `checkClientTLSCertSubject` in server/auth.go).
//!
//! nats-server tries, in order, each name the certificate carries against the configured
//! user names, and the first user found is the connection's user:
//!
//! 1. SAN e-mail addresses, then SAN DNS names, then SAN URIs, each as a literal user name;
//! 2. the subject as a distinguished name, compared RDN by RDN with user names that parse as
//!    DNs (attribute types case-insensitive, values exact), first in order, then in any order;
//! 3. Go's `RDNSequence.String()` of the subject with its domain components appended;
//! 4. Go's `RDNSequence.String()` of the subject alone (`CN=alice,OU=dev,O=acme,C=US`).
//!
//! The auth layer gets a [`TlsIdentity`] on each connection that completed a verified
//! handshake and asks [`TlsIdentity::map_user`] which of its users the certificate names.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::x509::X509Name;

/// Attribute type names Go prints in `RDNSequence.String()` and nats-server's ldap package
/// knows (DC only in the latter), by OID.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.17", "POSTALCODE"),
];
const DOMAIN_COMPONENT_OID: &str = "0.9.2342.19200300.100.1.25";

/// Go's `pkix.Name.ToRDNSequence` order: which attributes it keeps, and in which order.
const GO_RDN_ORDER: &[&str] = &["C", "ST", "L", "STREET", "POSTALCODE", "O", "OU"];

/// One attribute of a distinguished name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Attribute {
    kind: String,
    value: String,
}

/// A distinguished name as RDNs, most specific first (RFC 4514 order, as written).
type Dn = Vec<Vec<Attribute>>;

/// The names a verified client certificate carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsIdentity {
    pub emails: Vec<String>,
    pub dns_names: Vec<String>,
    pub uris: Vec<String>,
    /// Go's `RDNSequence.String()` of the subject: what nats-server logs and matches last.
    pub subject: String,
    /// The subject with its domain components appended, when it has any.
    subject_with_dcs: Option<String>,
    /// The subject for DN comparison; `None` if it has attributes nats-server's ldap
    /// package does not know (nats-server then skips the DN comparison too).
    subject_dn: Option<Dn>,
}

impl TlsIdentity {
    /// Reads the names of a DER certificate (the client's end-entity certificate).
    pub fn from_der(der: &[u8]) -> Result<TlsIdentity, String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("can not parse the client certificate: {e}"))?;
        let mut identity = TlsIdentity::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(email) => identity.emails.push(email.to_string()),
                    GeneralName::DNSName(dns) => identity.dns_names.push(dns.to_string()),
                    GeneralName::URI(uri) => identity.uris.push(uri.to_string()),
                    _ => {}
                }
            }
        }
        let subject = cert.subject();
        identity.subject = go_rdn_string(subject);
        let dcs: Vec<String> = attributes(subject)
            .into_iter()
            .flatten()
            .filter(|(oid, _)| oid == DOMAIN_COMPONENT_OID)
            .filter_map(|(_, value)| value.map(|v| format!("DC={v}")))
            .collect();
        if !dcs.is_empty() {
            identity.subject_with_dcs = Some(format!("{},{}", identity.subject, dcs.join(",")));
        }
        identity.subject_dn = ldap_dn(subject);
        Ok(identity)
    }

    /// The first of `users` the certificate names, in nats-server's order of preference.
    pub fn map_user<'u>(&self, users: &[&'u str]) -> Option<&'u str> {
        let literal = |name: &str| users.iter().copied().find(|user| *user == name);
        for name in self.emails.iter().chain(&self.dns_names).chain(&self.uris) {
            if let Some(user) = literal(name) {
                return Some(user);
            }
        }
        if let Some(cert_dn) = &self.subject_dn {
            let parsed: Vec<(&'u str, Dn)> = users
                .iter()
                .filter_map(|user| parse_dn(user).map(|dn| (*user, dn)))
                .collect();
            if let Some((user, _)) = parsed.iter().find(|(_, dn)| dn_equal(dn, cert_dn)) {
                return Some(user);
            }
            if let Some((user, _)) = parsed.iter().find(|(_, dn)| dn_rdns_match(dn, cert_dn)) {
                return Some(user);
            }
        }
        if let Some(user) = self.subject_with_dcs.as_deref().and_then(literal) {
            return Some(user);
        }
        literal(&self.subject)
    }
}

/// Every RDN's attributes as (OID, string value), in certificate order.
fn attributes(name: &X509Name) -> Vec<Vec<(String, Option<String>)>> {
    name.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = atv.as_str().ok().map(str::to_string);
                    (atv.attr_type().to_id_string(), value)
                })
                .collect()
        })
        .collect()
}

fn short_name(oid: &str) -> Option<&'static str> {
    ATTRIBUTE_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, name)| *name)
}

/// Go's `cert.Subject.ToRDNSequence().String()`: the known attributes regrouped in Go's
/// order (several values of one type form one multi-valued RDN), printed most specific
/// first with RFC 2253 escaping. Unknown attributes (e-mail, DC) are not part of it.
fn go_rdn_string(name: &X509Name) -> String {
    let all: Vec<(String, String)> = attributes(name)
        .into_iter()
        .flatten()
        .filter_map(|(oid, value)| Some((short_name(&oid)?.to_string(), value?)))
        .collect();
    let values = |kind: &str| -> Vec<&str> {
        all.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let mut rdns: Vec<Vec<(&str, &str)>> = Vec::new();
    for kind in GO_RDN_ORDER {
        let vals = values(kind);
        if !vals.is_empty() {
            rdns.push(vals.into_iter().map(|v| (*kind, v)).collect());
        }
    }
    // Go keeps only the last CN and the last serial number.
    for kind in ["CN", "SERIALNUMBER"] {
        if let Some(last) = values(kind).last() {
            rdns.push(vec![(kind, last)]);
        }
    }
    rdns.iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|(kind, value)| format!("{kind}={}", escape_rfc2253(value)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn escape_rfc2253(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == chars.len() - 1,
            '#' => i == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// nats-server's `ldap.FromRawCertSubject`: RDNs most specific first, attributes of an
/// RDN reversed; `None` when an attribute is not one the ldap package names.
fn ldap_dn(name: &X509Name) -> Option<Dn> {
    let mut dn = Dn::new();
    for rdn in attributes(name).into_iter().rev() {
        if rdn.is_empty() {
            continue;
        }
        let mut attrs = Vec::with_capacity(rdn.len());
        for (oid, value) in rdn.into_iter().rev() {
            let kind = if oid == DOMAIN_COMPONENT_OID {
                "DC"
            } else {
                short_name(&oid)?
            };
            attrs.push(Attribute {
                kind: kind.to_string(),
                value: value?,
            });
        }
        dn.push(attrs);
    }
    Some(dn)
}

/// nats-server's `ldap.ParseDN` (RFC 4514 text: `,` between RDNs, `+` inside one,
/// backslash escapes of specials or two hex digits); `None` if it is not a DN.
fn parse_dn(text: &str) -> Option<Dn> {
    let bytes = text.as_bytes();
    let mut dn = Dn::new();
    let mut rdn: Vec<Attribute> = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut kind: Option<String> = None;
    let mut trailing_spaces = 0usize;
    let mut escaping = false;
    let take = |buffer: &mut Vec<u8>, trailing: &mut usize| -> String {
        let end = buffer.len() - *trailing;
        let s = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.clear();
        *trailing = 0;
        s
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if escaping {
            trailing_spaces = 0;
            escaping = false;
            if b" \"#+,;<=>\\".contains(&c) {
                buffer.push(c);
            } else {
                let hex = text.get(i..i + 2)?;
                buffer.push(u8::from_str_radix(hex, 16).ok()?);
                i += 1;
            }
        } else if c == b'\\' {
            trailing_spaces = 0;
            escaping = true;
        } else if c == b'=' {
            kind = Some(take(&mut buffer, &mut trailing_spaces));
            if bytes.get(i + 1) == Some(&b'#') {
                return None;
            }
        } else if c == b',' || c == b'+' {
            let k = kind.take().filter(|k| !k.is_empty())?;
            let value = take(&mut buffer, &mut trailing_spaces);
            rdn.push(Attribute { kind: k, value });
            if c == b',' {
                dn.push(std::mem::take(&mut rdn));
            }
        } else if c == b' ' && buffer.is_empty() {
            // Leading spaces are skipped.
        } else {
            trailing_spaces = if c == b' ' { trailing_spaces + 1 } else { 0 };
            buffer.push(c);
        }
        i += 1;
    }
    if !buffer.is_empty() {
        let k = kind.take().filter(|k| !k.is_empty())?;
        let value = take(&mut buffer, &mut trailing_spaces);
        rdn.push(Attribute { kind: k, value });
        dn.push(rdn);
    }
    Some(dn)
}

fn rdn_equal(a: &[Attribute], b: &[Attribute]) -> bool {
    let has = |rdn: &[Attribute], attr: &Attribute| {
        rdn.iter()
            .any(|x| x.kind.eq_ignore_ascii_case(&attr.kind) && x.value == attr.value)
    };
    a.len() == b.len() && a.iter().all(|x| has(b, x)) && b.iter().all(|x| has(a, x))
}

fn dn_equal(a: &Dn, b: &Dn) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rdn_equal(x, y))
}

/// The same RDNs in any order.
fn dn_rdns_match(a: &Dn, b: &Dn) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut matched = vec![false; b.len()];
    a.iter().all(
        |rdn| match (0..b.len()).find(|&j| !matched[j] && rdn_equal(rdn, &b[j])) {
            Some(j) => {
                matched[j] = true;
                true
            }
            None => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(subject: &str, dn: Option<Dn>) -> TlsIdentity {
        TlsIdentity {
            subject: subject.to_string(),
            subject_dn: dn,
            ..TlsIdentity::default()
        }
    }

    #[test]
    fn dn_text_parses_like_nats_server() {
        let dn = parse_dn("CN=alice, OU=dev+OU=ops,O=Acme\\, Inc.,C=US").unwrap();
        assert_eq!(dn.len(), 4);
        assert_eq!(dn[1].len(), 2);
        assert_eq!(dn[2][0].value, "Acme, Inc.");
        assert_eq!(parse_dn("CN=\\41lice").unwrap()[0][0].value, "Alice");
        assert!(parse_dn("no equals sign").is_none());
        assert!(parse_dn("CN=#0403").is_none());
        assert!(parse_dn("CN=x\\").is_some_and(|dn| dn[0][0].value == "x"));
        assert!(parse_dn("CN=x\\4").is_none());
    }

    #[test]
    fn users_are_found_in_nats_server_order() {
        let cert_dn = parse_dn("CN=alice,OU=dev,O=Acme,C=US");
        let mut id = identity("CN=alice,OU=dev,O=Acme,C=US", cert_dn);
        // Exact DN, case-insensitive types.
        assert_eq!(
            id.map_user(&["bob", "cn=alice,ou=dev,o=Acme,c=US"]),
            Some("cn=alice,ou=dev,o=Acme,c=US")
        );
        // Reordered RDNs match after exact ones.
        assert_eq!(
            id.map_user(&["C=US,O=Acme,OU=dev,CN=alice"]),
            Some("C=US,O=Acme,OU=dev,CN=alice")
        );
        // Values are compared exactly.
        assert_eq!(id.map_user(&["CN=Alice,OU=dev,O=Acme,C=US"]), None);
        // An e-mail SAN wins over the subject.
        id.emails.push("alice@example.com".to_string());
        assert_eq!(
            id.map_user(&["CN=alice,OU=dev,O=Acme,C=US", "alice@example.com"]),
            Some("alice@example.com")
        );
        // Without a DN (unknown attributes) the subject string still matches literally.
        let id = identity("CN=carol", None);
        assert_eq!(id.map_user(&["CN=carol"]), Some("CN=carol"));
        assert_eq!(id.map_user(&["CN=dave"]), None);
    }

    proptest::proptest! {
        /// User names come from the configuration, but nothing about them may panic.
        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,40}", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = parse_dn(&text);
            let _ = parse_dn(&String::from_utf8_lossy(&raw));
            let id = identity("CN=x", parse_dn("CN=x"));
            let _ = id.map_user(&[text.as_str()]);
            let _ = escape_rfc2253(&text);
        }

        /// Certificates reach us only after verification, but their parsing is still
        /// network input: arbitrary bytes are an error, never a panic.
        #[test]
        fn any_bytes_as_a_certificate_fail_cleanly(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = TlsIdentity::from_der(&raw);
        }
    }

    #[test]
    fn certificate_names_are_read_as_go_reads_them() {
        use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
        let mut params = CertificateParams::new(vec!["alice.example.com".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::Rfc822Name("alice@example.com".try_into().unwrap()));
        params
            .subject_alt_names
            .push(SanType::URI("spiffe://acme/alice".try_into().unwrap()));
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            "acme",
        );
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "Acme, Inc.");
        dn.push(DnType::OrganizationalUnitName, "dev");
        dn.push(DnType::CommonName, "alice");
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let id = TlsIdentity::from_der(cert.der()).unwrap();
        assert_eq!(id.emails, ["alice@example.com"]);
        assert_eq!(id.dns_names, ["alice.example.com"]);
        assert_eq!(id.uris, ["spiffe://acme/alice"]);
        assert_eq!(id.subject, "CN=alice,OU=dev,O=Acme\\, Inc.,C=US");
        assert_eq!(
            id.subject_with_dcs.as_deref(),
            Some("CN=alice,OU=dev,O=Acme\\, Inc.,C=US,DC=acme")
        );
        // The DN comparison sees the DC too, most specific first.
        assert_eq!(
            id.map_user(&["CN=alice,OU=dev,O=Acme\\, Inc.,C=US,DC=acme", "bob"]),
            Some("CN=alice,OU=dev,O=Acme\\, Inc.,C=US,DC=acme")
        );
        assert_eq!(
            id.map_user(&["CN=alice,OU=dev,O=Acme\\, Inc.,C=US"]),
            Some("CN=alice,OU=dev,O=Acme\\, Inc.,C=US"),
            "the RDN string without DCs is the last resort"
        );
        assert_eq!(
            id.map_user(&["spiffe://acme/alice"]),
            Some("spiffe://acme/alice")
        );
    }

    #[test]
    fn values_are_escaped_as_go_does() {
        assert_eq!(escape_rfc2253(" a,b+c "), "\\ a\\,b\\+c\\ ");
        assert_eq!(escape_rfc2253("#x#"), "\\#x#");
    }
}
