//! `.env` files, read without a shell: `KEY=value` lines, `export KEY=value`, `#` comments,
//! single quotes (the text as it is), double quotes (with `\n`, `\t`, `\"`, `\\` escapes),
//! and CRLF line ends. Values are taken literally: no `${...}` inside.

/// The variables of `text` in file order (a later line overrides an earlier one), or the
/// first malformed line: its number and what is wrong.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut variables = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| (index + 1, "expected KEY=value".to_owned()))?;
        let key = key.trim_end();
        if !is_name(key) {
            return Err((
                index + 1,
                format!(
                    "{key:?} is not a variable name (letters, digits and _, not first a digit)"
                ),
            ));
        }
        let value = self::value(value.trim_start()).map_err(|e| (index + 1, e))?;
        variables.push((key.to_owned(), value));
    }
    Ok(variables)
}

/// Whether `name` can name an environment variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn value(text: &str) -> Result<String, String> {
    let (value, rest) = match text.chars().next() {
        Some('\'') => {
            let end = text[1..]
                .find('\'')
                .ok_or("a single quote that is not closed")?;
            (text[1..1 + end].to_owned(), &text[end + 2..])
        }
        Some('"') => {
            let mut value = String::new();
            let mut chars = text[1..].char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("a double quote that is not closed".to_owned()),
                    Some((i, '"')) => break i + 2,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, c @ ('"' | '\\' | '$'))) => value.push(c),
                        Some((_, c)) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err("a double quote that is not closed".to_owned()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            (value, &text[end..])
        }
        // Unquoted: up to a comment (a `#` first or after a blank), without trailing blanks.
        _ => {
            let bytes = text.as_bytes();
            let end = (0..bytes.len())
                .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
                .unwrap_or(text.len());
            return Ok(text[..end].trim_end().to_owned());
        }
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!("unexpected {rest:?} after the quoted value"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    #[test]
    fn reads_the_forms_of_a_dotenv_file() {
        let text = "# a comment\n\
                    \n\
                    PLAIN=value\n\
                    export EXPORTED=yes\n\
                    SPACED = around  \n\
                    EMPTY=\n\
                    EMPTY_COMMENTED= # none\n\
                    TABBED=v\t# c\n\
                    COMMENTED=value # not part of it\n\
                    HASH=a#b\n\
                    SINGLE='it is $HOME \\n'\n\
                    DOUBLE=\"line\\nnext \\\"quoted\\\" \\\\ \\x\" # after\n\
                    CRLF=windows\r\n\
                    PLAIN=again\n";
        assert_eq!(
            pairs(text),
            [
                ("PLAIN", "value"),
                ("EXPORTED", "yes"),
                ("SPACED", "around"),
                ("EMPTY", ""),
                ("EMPTY_COMMENTED", ""),
                ("TABBED", "v"),
                ("COMMENTED", "value"),
                ("HASH", "a#b"),
                ("SINGLE", "it is $HOME \\n"),
                ("DOUBLE", "line\nnext \"quoted\" \\ \\x"),
                ("CRLF", "windows"),
                ("PLAIN", "again"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn names_the_line_that_is_malformed() {
        assert_eq!(
            parse("A=1\nno equals sign\n").unwrap_err(),
            (2, "expected KEY=value".to_owned())
        );
        assert_eq!(parse("1A=x").unwrap_err().0, 1);
        assert_eq!(
            parse("A=1\n\nB='open\n").unwrap_err(),
            (3, "a single quote that is not closed".to_owned())
        );
        assert_eq!(
            parse("B=\"open").unwrap_err(),
            (1, "a double quote that is not closed".to_owned())
        );
        assert_eq!(
            parse("B='x' y").unwrap_err(),
            (1, "unexpected \"y\" after the quoted value".to_owned())
        );
    }
}
