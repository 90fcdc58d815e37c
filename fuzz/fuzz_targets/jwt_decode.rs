//! NATS JWTs as a hostile CONNECT, resolver file or `$SYS` claim update brings them:
//! arbitrary bytes through the decoder for every claim type operator mode reads, and
//! through the helpers that look at a token before it is verified. Nothing may panic or
//! allocate beyond the input's bound; what decodes must name well-formed keys.
#![no_main]

use libfuzzer_sys::fuzz_target;

use tern::auth::jwt::{
    self, AccountNats, ActivationNats, ClaimType, KeyPairType, OperatorNats, TimeRange, UserNats,
};
use tern::auth::operator::user_account_key;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(user) = jwt::decode::<UserNats>(text, ClaimType::User) {
        assert!(jwt::is_public_key(&user.sub, KeyPairType::User));
        assert!(jwt::is_public_key(&user.iss, KeyPairType::Account));
        for cidr in &user.nats.limits.src.0 {
            let _ = jwt::Cidr::parse(cidr).map(|c| c.contains([127, 0, 0, 1].into()));
        }
        let _ = jwt::time_window_left_s(&user.nats.limits.times, jwt::now_unix_s());
        let _ = jwt::check_times(&user, jwt::now_unix_s());
    }
    if let Ok(account) = jwt::decode::<AccountNats>(text, ClaimType::Account) {
        assert!(jwt::is_public_key(&account.sub, KeyPairType::Account));
        let _ = jwt::is_revoked(&account.nats.revocations, "U", account.iat);
    }
    let _ = jwt::decode::<OperatorNats>(text, ClaimType::Operator);
    let _ = jwt::decode::<ActivationNats>(text, ClaimType::Activation);
    let _ = user_account_key(text);
    // The time-window and CIDR readers on raw text too.
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (start, end) = text.split_at(middle);
    let _ = jwt::time_window_left_s(
        &[TimeRange {
            start: start.to_string(),
            end: end.to_string(),
        }],
        0,
    );
    let _ = jwt::Cidr::parse(text);
});
