//! Resolving `user` and `group` settings into numeric ids.
//!
//! Names are looked up in the account databases (`/etc/passwd` and
//! `/etc/group`, or whatever NSS is configured to use) when the file is
//! loaded, so a missing account is a configuration error instead of a failed
//! start later. Numeric ids are taken as written, because containers often
//! run as ids that have no account entry.

use std::ffi::CString;

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};

use super::fields::{Decoder, Field};
use super::model::Credentials;

/// Resolves `user` and `group`. Returns none when neither is set or either
/// is invalid, in which case the problem has been recorded.
///
/// - A user name takes its uid and primary gid from the user database, and its
///   supplementary groups from the group database.
/// - A numeric uid is used as is. Its gid is the primary group of the account
///   with that uid if one exists, else the same number.
/// - `group` replaces the primary gid. A group without a user keeps the uid
///   of the supervisor itself.
pub(crate) fn resolve(
    decoder: &mut Decoder<'_>,
    user_field: Option<&Field<'_>>,
    group_field: Option<&Field<'_>>,
) -> Option<Credentials> {
    let user_text = decoder.optional_text(user_field);
    let group_text = decoder.optional_text(group_field);
    if user_text.is_none() && group_text.is_none() {
        return None;
    }

    let user = user_text
        .zip(user_field)
        .map(|(text, field)| resolve_user(decoder, field, &text));
    let group = group_text
        .zip(group_field)
        .map(|(text, field)| resolve_group(decoder, field, &text));

    // Both lookups ran before either failure returns, so both are reported.
    let mut credentials = match user {
        Some(resolved) => resolved?,
        None => current_user(),
    };
    if let Some(resolved) = group {
        credentials.gid = resolved?;
    }
    Some(credentials)
}

fn resolve_user(decoder: &mut Decoder<'_>, field: &Field<'_>, text: &str) -> Option<Credentials> {
    if let Ok(number) = text.parse::<u32>() {
        let uid = Uid::from_raw(number);
        let account = User::from_uid(uid).ok().flatten();
        return Some(match account {
            Some(account) => with_groups(decoder, field, text, account),
            None => Credentials {
                user_name: text.to_owned(),
                uid,
                gid: Gid::from_raw(number),
                groups: Vec::new(),
            },
        });
    }

    match User::from_name(text) {
        Ok(Some(account)) => Some(with_groups(decoder, field, text, account)),
        Ok(None) => {
            let hint = "create the account in the image, or give a numeric uid";
            decoder
                .error(field, format!("user `{text}` does not exist"))
                .set_hint(hint);
            None
        }
        Err(errno) => {
            decoder.error(field, format!("failed to look up user `{text}`: {errno}"));
            None
        }
    }
}

/// Builds credentials for an account found in the user database.
fn with_groups(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    text: &str,
    account: User,
) -> Credentials {
    let groups = match CString::new(account.name.as_str()) {
        Ok(name) => match getgrouplist(&name, account.gid) {
            Ok(groups) => groups,
            Err(errno) => {
                let message = format!(
                    "failed to list the groups of user `{}`: {errno}",
                    account.name
                );
                decoder.error(field, message);
                Vec::new()
            }
        },
        // The name came from the C database, so it can't hold a NUL.
        Err(_) => Vec::new(),
    };
    Credentials {
        user_name: text.to_owned(),
        uid: account.uid,
        gid: account.gid,
        groups,
    }
}

fn resolve_group(decoder: &mut Decoder<'_>, field: &Field<'_>, text: &str) -> Option<Gid> {
    if let Ok(number) = text.parse::<u32>() {
        return Some(Gid::from_raw(number));
    }
    match Group::from_name(text) {
        Ok(Some(group)) => Some(group.gid),
        Ok(None) => {
            let hint = "create the group in the image, or give a numeric gid";
            decoder
                .error(field, format!("group `{text}` does not exist"))
                .set_hint(hint);
            None
        }
        Err(errno) => {
            decoder.error(field, format!("failed to look up group `{text}`: {errno}"));
            None
        }
    }
}

/// Returns the supervisor's own account, for a `group` set without a `user`.
fn current_user() -> Credentials {
    let uid = Uid::current();
    let account = User::from_uid(uid).ok().flatten();
    Credentials {
        user_name: account.map_or_else(|| uid.to_string(), |account| account.name),
        uid,
        gid: Gid::current(),
        groups: Vec::new(),
    }
}
