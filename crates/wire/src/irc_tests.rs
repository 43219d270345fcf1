//! The IRC codec against the community's parser test vectors (read from
//! `../shared/irc-parser-tests/`, never copied here) and property tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

fn vectors(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/irc-parser-tests")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; the repository must sit beside ../shared as in CI",
            path.display()
        )
    })
}

#[derive(Deserialize)]
struct Atoms {
    #[serde(default)]
    tags: Option<BTreeMap<String, Option<String>>>,
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Deserialize)]
struct SplitFile {
    tests: Vec<SplitCase>,
}

#[derive(Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[derive(Deserialize)]
struct JoinFile {
    tests: Vec<JoinCase>,
}

#[derive(Deserialize)]
struct JoinCase {
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

#[test]
fn msg_split_vectors() {
    let file: SplitFile = serde_norway::from_str(&vectors("msg-split.yaml")).unwrap();
    assert!(file.tests.len() > 30);
    for case in file.tests {
        let msg = Message::parse(&case.input)
            .unwrap_or_else(|e| panic!("{:?} failed to parse: {e}", case.input));
        let expected_tags: BTreeMap<String, String> = case
            .atoms
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        assert_eq!(
            tag_map(&msg.tags),
            expected_tags,
            "tags of {:?}",
            case.input
        );
        assert_eq!(msg.source, case.atoms.source, "source of {:?}", case.input);
        assert_eq!(msg.command, case.atoms.verb, "verb of {:?}", case.input);
        assert_eq!(msg.params, case.atoms.params, "params of {:?}", case.input);
    }
}

#[test]
fn msg_join_vectors() {
    let file: JoinFile = serde_norway::from_str(&vectors("msg-join.yaml")).unwrap();
    assert!(file.tests.len() > 10);
    for case in file.tests {
        let tags = case.atoms.tags.unwrap_or_default();
        // A map has no order; try the order the first match uses, so any listed line fits.
        let mut ordered: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone().unwrap_or_default(),
            })
            .collect();
        if let Some(first) = case.matches.first() {
            ordered.sort_by_key(|t| first.find(t.key.as_str()).unwrap_or(usize::MAX));
        }
        let msg = Message {
            tags: ordered,
            source: case.atoms.source,
            command: case.atoms.verb,
            params: case.atoms.params,
        };
        let line = msg.encode().unwrap();
        assert!(
            case.matches.contains(&line),
            "{}: encoded {line:?}, expected one of {:?}",
            case.desc,
            case.matches
        );
    }
}

#[derive(Deserialize)]
struct UserhostFile {
    tests: Vec<UserhostCase>,
}

#[derive(Deserialize)]
struct UserhostCase {
    source: String,
    atoms: UserhostAtoms,
}

#[derive(Deserialize)]
struct UserhostAtoms {
    nick: Option<String>,
    user: Option<String>,
    host: Option<String>,
}

#[test]
fn userhost_split_vectors() {
    let file: UserhostFile = serde_norway::from_str(&vectors("userhost-split.yaml")).unwrap();
    assert!(!file.tests.is_empty());
    for case in file.tests {
        let parts = split_source(&case.source);
        assert_eq!(
            Some(parts.nick.to_owned()),
            case.atoms.nick,
            "{}",
            case.source
        );
        assert_eq!(
            parts.user.map(str::to_owned),
            case.atoms.user,
            "{}",
            case.source
        );
        assert_eq!(
            parts.host.map(str::to_owned),
            case.atoms.host,
            "{}",
            case.source
        );
    }
}

#[derive(Deserialize)]
struct MaskFile {
    tests: Vec<MaskCase>,
}

#[derive(Deserialize)]
struct MaskCase {
    mask: String,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(default)]
    fails: Vec<String>,
}

#[test]
fn mask_match_vectors() {
    let file: MaskFile = serde_norway::from_str(&vectors("mask-match.yaml")).unwrap();
    assert!(!file.tests.is_empty());
    for case in file.tests {
        for m in &case.matches {
            assert!(
                mask_matches(&case.mask, m),
                "{} should match {m}",
                case.mask
            );
        }
        for f in &case.fails {
            assert!(
                !mask_matches(&case.mask, f),
                "{} should not match {f}",
                case.mask
            );
        }
    }
}

#[test]
fn builder_writes_tags_source_params() {
    let line = LineBuilder::new()
        .tag("time", Some("2026-01-01T00:00:00.000Z"))
        .tag("+x", Some("a b;c"))
        .tag("flag", None)
        .source_parts("nick", "user", "host")
        .command("PRIVMSG")
        .param("#room")
        .trailing("hello world")
        .finish();
    assert_eq!(
        &line[..],
        &b"@time=2026-01-01T00:00:00.000Z;+x=a\\sb\\:c;flag :nick!user@host PRIVMSG #room :hello world\r\n"[..]
    );
    let plain = LineBuilder::new().command("PING").param("x").finish();
    assert_eq!(&plain[..], b"PING x\r\n");
}

#[test]
fn irc_safe_keeps_formatting_and_drops_escapes() {
    assert_eq!(
        irc_safe("\u{2}bold\u{2} \u{3}4red"),
        "\u{2}bold\u{2} \u{3}4red"
    );
    assert_eq!(irc_safe("\u{1}ACTION x\u{1}"), "\u{1}ACTION x\u{1}");
    assert_eq!(irc_safe("\u{1b}[2Jhi\u{7}\u{9b}\u{7f}"), "[2Jhi");
}

fn middle() -> impl Strategy<Value = String> {
    "[^ :\r\n\0][^ \r\n\0]{0,8}"
}

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::btree_map("[a-z+/][a-z0-9-]{0,5}", "[^\r\n\0]{0,6}", 0..3),
        proptest::option::of(middle()),
        "[A-Z]{1,8}|[0-9]{3}",
        proptest::collection::vec(middle(), 0..4),
        proptest::option::of("[^\r\n\0]{0,10}"),
    )
        .prop_map(|(tags, source, command, mut params, trailing)| {
            params.extend(trailing);
            Message {
                tags: tags
                    .into_iter()
                    .map(|(key, value)| Tag { key, value })
                    .collect(),
                source,
                command,
                params,
            }
        })
}

proptest! {
    #[test]
    fn parse_inverts_encode(msg in message()) {
        let line = msg.encode().unwrap();
        prop_assert_eq!(Message::parse(&line).unwrap(), msg);
    }

    #[test]
    fn parse_never_panics(line in any::<String>()) {
        let _ = Message::parse(&line);
    }

    #[test]
    fn mask_match_never_panics(mask in "[a-c*?]{0,12}", text in "[a-c]{0,12}") {
        let _ = mask_matches(&mask, &text);
        prop_assert!(mask_matches("*", &text));
    }
}
