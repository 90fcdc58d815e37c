//! The CONNECT JSON and the authentication decision a client can reach before it is
//! authenticated: users with plain passwords, NKey users (signatures over a fixed nonce),
//! `no_auth_user`, accounts with permissions. Invariant besides "no panic": a decision is
//! always made (bcrypt comparisons are only handed back, never run here).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tern::auth::{Auth, Decision};
use tern::config::{parse_str, Options};
use tern::protocol::ConnectOptions;

const CONFIG: &str = r#"
accounts {
  A {
    users = [
      {user: a, password: pa, permissions: { publish: { allow: "x.>", deny: "x.y" }, allow_responses: true }}
      {nkey: UCPUHK6KBKHFMP56TTURLRZ3O3ZHDC4OAOLKMYKTIVBQQZTCCMPTOYZZ}
      {user: h, password: "$2a$04$iLnrUXG/SxQpN4dcuFIKSebEVt6LcgcSOcvNzoU3ZbU5qyqHk1pXG"}
    ]
  }
  B { users = [ {user: b, password: pb} ] }
}
no_auth_user: b
"#;

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let mut options = Options::default();
        let map = parse_str(CONFIG, "fuzz.conf").expect("the fuzz config parses");
        options.apply_config(&map).expect("the fuzz config applies");
        Auth::from_options(&options).expect("the fuzz config is consistent")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(connect) = ConnectOptions::from_json(data) else {
        return;
    };
    match auth().check(&connect, Some("abcdefghijklmno"), None) {
        Decision::Accept(_) | Decision::Reject | Decision::Bcrypt { .. } => {}
    }
});
