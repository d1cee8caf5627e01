//! How a diagnostic words what the user wrote: echoed text kept short and printable, and
//! the did-you-mean suggestion. Both stay proportionate to their input: a file may hold a
//! name of megabytes, or control characters that must not reach a terminal raw.

/// The most characters of a user's text a message echoes.
const MAX_ECHOED: usize = 40;

/// The longest word compared for a suggestion: typos are made in short names, and a
/// comparison costs the product of the two lengths.
const MAX_COMPARED: usize = 64;

/// `text` as a message shows it unquoted (a name in a list): see [`quoted`].
pub fn shown(text: &str) -> String {
    let quoted = quoted(text);
    quoted[1..quoted.len() - 1].to_owned()
}

/// `text` quoted as a message shows it: JSON-escaped, so control characters and ESC are
/// written as `\u001b`, and shortened with `...` past 40 characters.
pub fn quoted(text: &str) -> String {
    if text.chars().count() <= MAX_ECHOED {
        return serde_json::Value::from(text).to_string();
    }
    let head: String = text.chars().take(MAX_ECHOED - 3).collect();
    let head = serde_json::Value::from(head).to_string();
    format!("{}...\"", &head[..head.len() - 1])
}

/// The candidate nearest to `word`, when it is near enough to be a likely typo.
pub fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let length = word.chars().count();
    if length > MAX_COMPARED {
        return None;
    }
    let word = word.to_lowercase();
    candidates
        // The distance is at least the difference in length: most pairs need no table.
        .filter(|c| {
            c.len() <= 4 * MAX_COMPARED && c.chars().count().abs_diff(length) <= length / 3 + 1
        })
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
