//! Reading the value of a list variable: a JSON array, items separated by
//! commas, shell words for a command, or else a single item.

use crate::config::values::Invalid;

/// Splits `text` into the items of a list. With `command`, a value that is
/// neither a JSON array nor comma-separated is split into words as a POSIX
/// shell would, without expanding anything.
///
/// A value that is empty or only blanks is an empty list.
///
/// # Errors
///
/// Returns what is wrong, naming the value and the accepted forms: a JSON
/// array that doesn't parse or contains something other than strings, an empty
/// item between commas, a command whose comma-separated program contains a
/// space, or an unclosed quote.
pub(crate) fn parse_list(text: &str, command: bool) -> Result<Vec<String>, Invalid> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed).map_err(|error| Invalid {
            message: format!("`{text}` is not a JSON array of strings: {error}"),
            hint: Some(forms_hint(command)),
        });
    }
    if trimmed.contains(',') {
        return split_commas(text, command);
    }
    if !command {
        return Ok(vec![trimmed.to_owned()]);
    }
    shell_words::split(trimmed).map_err(|_| Invalid {
        message: format!("`{text}` has an unclosed quote"),
        hint: Some(format!("close the quote, or {}", forms_hint(true))),
    })
}

/// Returns the regular expression repetition, like `{3,}`, that splitting
/// at commas cut in two: an item ending in `{` and digits followed by one
/// starting with digits, if any, and `}`.
fn cut_repetition(items: &[String]) -> Option<String> {
    items.windows(2).find_map(|pair| {
        let open = pair[0].rfind('{')?;
        let low = &pair[0][open + 1..];
        let close = pair[1].find('}')?;
        let high = &pair[1][..close];
        let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
        (!low.is_empty() && digits(low) && digits(high)).then(|| format!("{{{low},{high}}}"))
    })
}

fn split_commas(text: &str, command: bool) -> Result<Vec<String>, Invalid> {
    let items: Vec<String> = text.split(',').map(|item| item.trim().to_owned()).collect();
    if let Some(cut) = cut_repetition(&items) {
        return Err(Invalid {
            message: format!(
                "`{text}` was split at each comma, which cuts the repetition `{cut}` in two"
            ),
            hint: Some(
                "to keep a comma inside an item, write the value as a JSON array, \
                 like [\"sk_live_\\\\w{3,}\", \"token\"]"
                    .to_owned(),
            ),
        });
    }
    if items.iter().any(String::is_empty) {
        return Err(Invalid {
            message: format!("`{text}` has an empty item between commas"),
            hint: Some(format!(
                "remove the extra comma, or {}",
                forms_hint(command)
            )),
        });
    }

    // `php artisan queue:work --queue=high,default` is a shell-style command
    // with a comma in an argument, not a list whose program is
    // `php artisan queue:work --queue=high`. A program name has no spaces, so
    // such a value is rejected instead of guessed at.
    let program = items.first().map(String::as_str).unwrap_or_default();
    if command && program.contains(char::is_whitespace) {
        let json = shell_words::split(text)
            .ok()
            .and_then(|words| serde_json::to_string(&words).ok());
        let hint = match json {
            Some(json) => format!("write it as a JSON array: {json}"),
            None => forms_hint(true),
        };
        return Err(Invalid {
            message: format!(
                "`{text}` has a comma, so it reads as items separated by commas, \
                 but its first item `{program}` contains a space"
            ),
            hint: Some(hint),
        });
    }
    Ok(items)
}

/// Describes the accepted forms of a list, with an example.
fn forms_hint(command: bool) -> String {
    if command {
        r#"write a JSON array like ["php","artisan","queue:work"], or items separated by commas like php,artisan,queue:work"#
            .to_owned()
    } else {
        r#"write a JSON array like ["first","second"], or items separated by commas like first,second"#
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str, command: bool) -> Vec<String> {
        match parse_list(text, command) {
            Ok(items) => items,
            Err(invalid) => panic!("{text:?}: {}", invalid.message),
        }
    }

    fn error(text: &str, command: bool) -> Invalid {
        match parse_list(text, command) {
            Ok(items) => panic!("{text:?} was accepted as {items:?}"),
            Err(invalid) => invalid,
        }
    }

    #[test]
    fn json_array_keeps_commas_and_spaces() {
        let items = list(r#"["sh", "-c", "echo a, b"]"#, true);

        assert_eq!(items, ["sh", "-c", "echo a, b"]);
    }

    #[test]
    fn commas_split_and_trim_items() {
        assert_eq!(
            list("php,artisan,cache:warm", true),
            ["php", "artisan", "cache:warm"]
        );
        assert_eq!(list(" php-fpm , redis ", false), ["php-fpm", "redis"]);
    }

    #[test]
    fn command_without_commas_splits_like_shell() {
        let items = list(r#"php artisan queue:work --name="a b""#, true);

        assert_eq!(items, ["php", "artisan", "queue:work", "--name=a b"]);
    }

    #[test]
    fn other_list_without_commas_is_one_item() {
        assert_eq!(list("php-fpm", false), ["php-fpm"]);
        assert_eq!(list("a b", false), ["a b"]);
    }

    #[test]
    fn blank_value_is_empty_list() {
        assert!(list("", true).is_empty());
        assert!(list("  ", false).is_empty());
    }

    #[test]
    fn bad_json_names_value_and_forms() {
        let invalid = error(r#"["php", 1]"#, true);

        assert!(
            invalid
                .message
                .starts_with(r#"`["php", 1]` is not a JSON array of strings: "#),
            "{}",
            invalid.message
        );
        assert!(invalid
            .hint
            .is_some_and(|hint| hint.contains(r#"["php","artisan","#)));
    }

    #[test]
    fn unclosed_json_array_is_rejected() {
        assert!(parse_list("[php, artisan", true).is_err());
    }

    #[test]
    fn empty_comma_item_is_rejected() {
        let invalid = error("php,,artisan", true);

        assert_eq!(
            invalid.message,
            "`php,,artisan` has an empty item between commas"
        );
    }

    #[test]
    fn comma_in_shell_command_is_rejected() {
        let invalid = error("php artisan queue:work --queue=high,default", true);

        assert!(invalid
            .message
            .contains("`php artisan queue:work --queue=high`"));
        assert_eq!(
            invalid.hint.as_deref(),
            Some(
                r#"write it as a JSON array: ["php","artisan","queue:work","--queue=high,default"]"#
            )
        );
    }

    #[test]
    fn unclosed_quote_is_rejected() {
        let invalid = error("php 'artisan", true);

        assert_eq!(invalid.message, "`php 'artisan` has an unclosed quote");
    }
}
