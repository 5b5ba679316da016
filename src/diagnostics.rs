//! One-line renderings of third-party parsers' messages: every module that
//! reads outside text uses them, so they sit below every error type.

/// A third-party parser's message on one line: errors that quote the
/// offending source (toml, pest) span several lines with carets, and a
/// rejection here is always one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
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
