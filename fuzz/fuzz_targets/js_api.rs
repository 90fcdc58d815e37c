//! Every `$JS.API` request body decoder (and the subjects and scalars parsed beside them):
//! the first byte picks the decoder, the rest is the body. Stream and consumer configs
//! that decode are run through the same checks a CREATE runs. No input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern::jetstream::api::{
    check_pull_request, parse_go_duration, parse_stream_config_request, AckKind, AckSubject,
    ConsumerConfig, ConsumerCreateSubject, ConsumerLimits, ConsumerNamesRequest,
    CreateConsumerRequest, GoTime, MsgDeleteRequest, MsgGetRequest, PullRequest, PurgeRequest,
    ServerLimits, StreamConfig, StreamInfoRequest, StreamNamesRequest,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let text = std::str::from_utf8(body).ok();
    match which % 13 {
        0 => {
            if let Ok((config, pedantic)) = parse_stream_config_request(body) {
                let none = |_: &str| None;
                if let Ok(checked) = config.checked(&ServerLimits::default(), pedantic, &none) {
                    let json = serde_json::to_vec(&checked).expect("a config encodes");
                    let _ = parse_stream_config_request(&json);
                }
            }
        }
        1 => {
            let subject = ConsumerCreateSubject::parse("$JS.API.CONSUMER.CREATE.S.C.s.>")
                .expect("a create subject");
            if let Ok(request) = CreateConsumerRequest::parse(&subject, body) {
                let mut stream = StreamConfig::named("S");
                stream.subjects = vec!["s.>".to_string()];
                let none = |_: &str| None;
                let stream = stream
                    .checked(&ServerLimits::default(), false, &none)
                    .expect("the fixed stream is valid");
                if let Ok(config) =
                    request
                        .config
                        .checked(&stream, &ConsumerLimits::default(), request.pedantic)
                {
                    let _ = check_pull_request(&config, b"{\"batch\":10}", None);
                }
            }
        }
        2 => {
            let _ = StreamInfoRequest::parse(body);
        }
        3 => {
            let _ = StreamNamesRequest::parse(body);
        }
        4 => {
            if let Ok(Some(purge)) = PurgeRequest::parse(body) {
                let _ = purge.validate();
            }
        }
        5 => {
            let _ = MsgDeleteRequest::parse(body);
        }
        6 => {
            let _ = MsgGetRequest::parse_msg_get(body);
            let _ = MsgGetRequest::parse_direct_get(body);
            let _ = MsgGetRequest::parse_direct_get_last_by_subject(body, "s.a");
        }
        7 => {
            let _ = ConsumerNamesRequest::parse(body);
        }
        8 => {
            let _ = PullRequest::parse(body);
            let mut config = ConsumerConfig::default();
            config.durable_name = "C".to_string();
            let _ = check_pull_request(&config, body, text);
        }
        9 => {
            let _ = AckKind::parse(body);
        }
        10 => {
            if let Some(text) = text {
                let _ = AckSubject::parse(text);
                let _ = ConsumerCreateSubject::parse(text);
            }
        }
        11 => {
            if let Some(text) = text {
                let _ = parse_go_duration(text);
            }
        }
        _ => {
            if let Some(text) = text {
                let _ = GoTime::parse_rfc3339(text);
            }
        }
    }
});
