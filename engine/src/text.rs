//! Text from outside shown as text: a provider's words, an address source's error.
//!
//! A provider answer reaches terminals (`dyntrayd status`, `history`, `once`, the logs)
//! and desktop notifications. Raw, an escape sequence in it could recolour or rewrite a
//! terminal, a carriage return could hide what came before it, and markup could become a
//! link in a notification server that renders it. [`visible`] is applied where a
//! provider's words enter the engine, so every place that shows them gets safe text;
//! [`markup_escaped`] is for notification bodies, which servers may read as markup.

use std::fmt::Write as _;

/// `text` with every control character written out visibly (`\x1b`, `\r`, `\n`,
/// `\u{202e}`), so that it prints as itself and nothing else: C0 and C1 controls, DEL,
/// and the bidirectional overrides and isolates that reorder what follows them.
pub fn visible(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with the characters that notification markup gives a meaning (`&`, `<`, `>`)
/// written as entities, so a server that renders markup shows them as they are.
pub fn markup_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(visible("badauth"), "badauth");
        assert_eq!(
            visible("good\x1b[2J\x1b]0;owned\x07"),
            "good\\x1b[2J\\x1b]0;owned\\x07"
        );
        assert_eq!(visible("nochg\rgood"), "nochg\\rgood");
        assert_eq!(visible("a\nb\tc\x7f"), "a\\nb\\tc\\x7f");
        // C1 controls (a lone CSI) and a right-to-left override.
        assert_eq!(visible("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        // Ordinary non-ASCII text stays as it is.
        assert_eq!(
            visible("Zugriff verweigert \u{2013} ü"),
            "Zugriff verweigert \u{2013} ü"
        );
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            markup_escaped("<a href=\"https://evil.example\">click</a> & more"),
            "&lt;a href=\"https://evil.example\"&gt;click&lt;/a&gt; &amp; more"
        );
        assert_eq!(markup_escaped("plain"), "plain");
    }
}
