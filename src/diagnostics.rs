//! One-line renderings of third-party parsers' messages: every module that
//! reads outside text uses them, so they sit below every error type.

/// A third-party parser's message on one line: errors that quote the
/// offending source (toml, pest) span several lines with carets, and a
/// rejection here is always one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with control characters escaped (`\n`, `\u{1b}`): names read
/// from a user's file go into one-line errors (a fuzzed ONNX tensor name
/// held a newline), and escaping keeps the name recognisable.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// A TOML error as `line L, column C: message`, on one line (the crate's
/// own rendering quotes the source over several lines).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = one_line(e.message());
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return message;
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters_and_keeps_the_rest() {
        assert_eq!(printable("conv\n1\tx\r"), "conv\\n1\\tx\\r");
        assert_eq!(printable("stem.0.weight ü"), "stem.0.weight ü");
        assert!(!printable("a\u{0}b\u{1b}c").chars().any(char::is_control));
    }

    #[test]
    fn one_line_joins_a_parser_message() {
        assert_eq!(
            one_line("expected `=`\n  |\n1 | a b\n"),
            "expected `=` | 1 | a b"
        );
    }
}
