//! The engine against `regex-lite`, the crate whose syntax and meaning it
//! keeps: the same patterns compile (or not), and match the same strings.

use super::Regex;

fn check(pattern: &str, haystacks: &[&str]) {
    let ours = Regex::new(pattern);
    let theirs = regex_lite::Regex::new(pattern);
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "{pattern:?}: ours {:?}, regex-lite {:?}",
        ours.as_ref().err(),
        theirs.as_ref().err()
    );
    if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
        for h in haystacks {
            assert_eq!(ours.is_match(h), theirs.is_match(h), "{pattern:?} on {h:?}");
        }
    }
}

const HAYSTACKS: &[&str] = &[
    "",
    "a",
    "b",
    "ab",
    "ba",
    "abc",
    "aaa",
    "widgets",
    "Widgets",
    "corp/x",
    "evil/corp/x",
    "drop table users",
    "DROP  TABLE",
    "droptable",
    "a\nb",
    "\n",
    "a\r\nb",
    "x.y",
    "x..y",
    "/etc/shadow",
    "/proc/1",
    "foo@example.com",
    "é",
    "δ",
    "日本",
    "a b",
    " ",
    "_",
    "12",
    "a1-b",
    "tools",
    "ab\nab",
    "\u{1F600}",
    "é\u{301}",
    "a-b_c.d",
    "..",
    "/",
    "AbC",
];

#[test]
fn common_patterns() {
    for p in [
        "^[a-z0-9][a-z0-9._-]*$",
        "^corp/",
        "(?i)drop\\s+table",
        "\\.\\.",
        "^/etc/",
        "@example\\.com$",
        "^[A-Za-z0-9 :;,.-]*$",
        "a|b",
        "ab|cd",
        "a*",
        "a+",
        "a?",
        "a{2}",
        "a{2,}",
        "a{1,2}b",
        "^a$",
        "^$",
        "$",
        "^",
        "",
        ".",
        "^.$",
        "(?s).",
        "\\w+",
        "\\W",
        "\\d",
        "\\s",
        "\\bab\\b",
        "\\Bb",
        "(?m)^b",
        "(?m)a$",
        "(?mR)^b$",
        "[^a]",
        "[^\\n]",
        "[[:alpha:]]+",
        "[[:^alpha:]]",
        "(?i)[a-c]+",
        "(?i)é",
        "[é-ü]",
        "x*y*z*",
        "(a|ab)(c|bcd)",
        "(?:a|b)+c",
        "a.*b",
        "^(ab)+$",
        "(a*)*b",
        "(|a)b",
        "\\A\\z",
        "\\Aab",
        "ab\\z",
        "a\\b",
        "^\\w+@\\w+\\.com$",
        "[\\d\\s]",
        "\\x41",
        "\\u{e9}",
        "(?x) a b # comment",
        "[-a]",
        "[a-]",
        "[]a]",
        "a{0}",
        "a{0,0}b",
        "(?i)WIDGETS",
        "[\\[\\]]",
        "\\*",
        "日",
        "^.{2}$",
        "(?U)a+?",
        "a{,2}",
        "a{2",
        "(?P<x>a)",
        "(?<y>b)",
        "a(?i)b",
        "(a(?i)b)c",
        "[a&&b]",
        "[a--b]",
        "[a~~b]",
        "\\p{L}",
        "\\Q",
        "(?z)",
        "[[a]]",
        "\\e",
        "\\0",
        "\\<",
        "\\>",
        "\\<a",
        "a\\>",
        "\\b{start}a",
        "a\\b{end}",
        "\\b{start-half}b",
        "b\\b{end-half}",
        "\\b{bogus}",
        "x{1001}",
        "\\-",
        "\\#",
        "\\&",
        "\\~",
        "\\ ",
        "[\\x{10FFFF}]",
        "(?ii)a",
        "(?i-i)a",
        "(?i-)a",
        "(?-)a",
        "(?--i)a",
        "(?-i:a)",
        "(?i-:a)",
        "(?)",
        "(?:)",
        "(?x)( ?i)a",
        "(?x)(?i )a",
        "a{2, }",
        "a{2,\r}",
        "a{ 2 , 3 }",
        "a{2\r\r,\r3}",
        "(?x)a{2, }",
        "(?x)a{ 2 #c\n , 3 }",
        "(?x)a{2 3}",
        "a{2 3}",
        "(?x)a* ?",
        "(?x)a{2} ?",
        "a{99999999999}",
        "[\\s-x]",
        "[\\s-]",
        "[a-\\d]",
        "[--a]",
        "[^--]",
        "[-]a]",
        "[a--]",
        "[\\d--]",
        "[[:alpha:]-z]",
        "[[:a:b:]]",
        "[[:bogus:]]",
        "[[:^digit:]x]",
        "(?x)[ ^ a ]",
        "(?x)[a - c]",
        "(?x)[a- #x\n]",
        "(?x)[#]",
        "(?x)[ ] ]",
        "[\\b]",
        "[\\A]",
    ] {
        check(p, HAYSTACKS);
    }
}

/// `regex-lite` refuses patterns nested more than 50 deep, counting groups
/// as its parser does and the tree as it builds it.
#[test]
fn nesting_limits() {
    for n in [48, 49, 50, 51, 52] {
        let patterns = [
            format!("{}a{}", "(".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(?:".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(?i:".repeat(n), ")".repeat(n)),
            format!("a{}", "*".repeat(n)),
            format!("a{}", "{1}".repeat(n)),
            format!("a{}", "{0}".repeat(n)),
            format!("{}a{}", "(?:b".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(b|".repeat(n), ")".repeat(n)),
            format!("{}a{}", "((?i)".repeat(n), ")".repeat(n)),
            format!("{}a", "(?i)".repeat(n)),
            format!("(a){}", "+".repeat(n)),
        ];
        for p in &patterns {
            check(p, &["a", "b", ""]);
        }
    }
    for p in [
        "(?P<a>x)(?P<a>y)",
        "(?P<1a>x)",
        "(?P<a1>x)",
        "(?P<>x)",
        "(?<_.[]>x)",
        "(?<a>x)(?<b>y)",
    ] {
        check(p, HAYSTACKS);
    }
}

/// Random small patterns over a small alphabet, against random haystacks.
#[test]
fn random_patterns_match_as_regex_lite_does() {
    const PIECES: &[&str] = &[
        "a",
        "b",
        ".",
        "|",
        "*",
        "+",
        "?",
        "(",
        ")",
        "[ab]",
        "[^a]",
        "^",
        "$",
        "\\b",
        "\\B",
        "{2}",
        "{1,2}",
        "(?i)",
        "(?m)",
        "\\w",
        "\\s",
        "A",
        "\n",
        "(?:",
        "\\d",
        "[a-z]",
        "[^\\s]",
        "\\A",
        "\\z",
        "(?s)",
        "(?R)",
        "(?mR)",
        "\r",
        "{0}",
        "{0,1}",
        "{2,}",
        "\\x61",
        "[[:upper:]]",
        "\\<",
        "\\>",
        "(?-i)",
        ".*",
        "é",
        "[é]",
        "\\W",
        "[",
        "]",
        "-",
        "[:digit:]",
        "\\d-",
        "(?x)",
        " ",
        "#",
        "^-",
    ];
    const CHARS: &[char] = &['a', 'b', 'A', ' ', '\n', '\r', '1', '.', 'é', 'z', '_'];
    let mut seed = 42u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..40_000 {
        let len = 1 + next() % 7;
        let pattern: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
        let haystacks: Vec<String> = (0..6)
            .map(|_| {
                let n = next() % 8;
                (0..n).map(|_| CHARS[next() % CHARS.len()]).collect()
            })
            .collect();
        let refs: Vec<&str> = haystacks.iter().map(String::as_str).collect();
        check(&pattern, &refs);
    }
}
