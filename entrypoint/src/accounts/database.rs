//! Edits of `/etc/passwd` and `/etc/group` text: renumbering one user and
//! its primary group.
//!
//! Lines are `name:password:uid:gid:gecos:home:shell` in passwd and
//! `name:password:gid:members` in group (passwd(5), group(5)). Lines that
//! don't have this shape, such as comments, are kept as they are.

/// The reason a renumbering was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RemapError {
    /// The user has no line in the passwd file.
    #[error("user `{user}` is not in {file}")]
    UserNotFound {
        /// The user name.
        user: String,
        /// The passwd file.
        file: String,
    },
    /// The user's primary group has no line in the group file.
    #[error("the primary group of `{user}` (gid {gid}) is not in {file}")]
    GroupNotFound {
        /// The user name.
        user: String,
        /// The group id from the passwd line.
        gid: u32,
        /// The group file.
        file: String,
    },
    /// Another account already has the requested uid.
    #[error("PUID {uid} is already used by account `{account}`; choose a free uid")]
    UidTaken {
        /// The requested uid.
        uid: u32,
        /// The account that has it.
        account: String,
    },
    /// Another group already has the requested gid.
    #[error("PGID {gid} is already used by group `{group}`; choose a free gid")]
    GidTaken {
        /// The requested gid.
        gid: u32,
        /// The group that has it.
        group: String,
    },
}

/// One user's ids as the passwd file has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    /// User id.
    pub(crate) uid: u32,
    /// Primary group id.
    pub(crate) gid: u32,
}

/// Returns the ids of `user` in passwd `text`, or none when it has no line.
pub(crate) fn find_user(text: &str, user: &str) -> Option<Ids> {
    text.lines()
        .filter_map(|line| parse(line, 7))
        .find(|fields| fields[0] == user)
        .and_then(|fields| {
            let uid = fields[2].parse().ok()?;
            let gid = fields[3].parse().ok()?;
            Some(Ids { uid, gid })
        })
}

/// Gives `user` the uid `uid` in passwd `text`.
///
/// # Errors
///
/// Returns [`RemapError::UidTaken`] when another line has that uid.
pub(crate) fn set_uid(text: &str, user: &str, uid: u32) -> Result<String, RemapError> {
    let requested = uid.to_string();
    let holder = text
        .lines()
        .filter_map(|line| parse(line, 7))
        .find(|fields| fields[0] != user && fields[2] == requested);
    if let Some(fields) = holder {
        let account = fields[0].to_owned();
        return Err(RemapError::UidTaken { uid, account });
    }
    Ok(rewrite(text, 7, |fields| {
        if fields[0] == user {
            fields[2] = requested.clone();
        }
    }))
}

/// Renumbers the group `old_gid` to `new_gid` in group text, and returns
/// the group's name with the new text.
///
/// # Errors
///
/// Returns [`RemapError::GidTaken`] when another group has `new_gid`, and
/// [`RemapError::GroupNotFound`] when no group has `old_gid`.
pub(crate) fn renumber_group(
    text: &str,
    old_gid: u32,
    new_gid: u32,
    (user, file): (&str, &str),
) -> Result<(String, String), RemapError> {
    let (old, new) = (old_gid.to_string(), new_gid.to_string());
    let groups: Vec<Vec<&str>> = text.lines().filter_map(|line| parse(line, 4)).collect();
    let Some(group) = groups.iter().find(|fields| fields[2] == old) else {
        let (user, file) = (user.to_owned(), file.to_owned());
        return Err(RemapError::GroupNotFound {
            user,
            gid: old_gid,
            file,
        });
    };
    let name = group[0].to_owned();
    if let Some(other) = groups
        .iter()
        .find(|fields| fields[2] == new && fields[0] != name)
    {
        let group = other[0].to_owned();
        return Err(RemapError::GidTaken {
            gid: new_gid,
            group,
        });
    }

    let text = rewrite(text, 4, |fields| {
        if fields[0] == name {
            fields[2] = new.clone();
        }
    });
    Ok((name, text))
}

/// Points every passwd line whose primary group is `old_gid` at `new_gid`,
/// so accounts keep their group after it is renumbered.
pub(crate) fn move_primary_group(text: &str, old_gid: u32, new_gid: u32) -> String {
    let (old, new) = (old_gid.to_string(), new_gid.to_string());
    rewrite(text, 7, |fields| {
        if fields[3] == old {
            fields[3] = new.clone();
        }
    })
}

/// Splits `line` into exactly `count` fields, or returns none for a line
/// of another shape.
fn parse(line: &str, count: usize) -> Option<Vec<&str>> {
    if line.starts_with('#') {
        return None;
    }
    let fields: Vec<&str> = line.split(':').collect();
    (fields.len() == count).then_some(fields)
}

/// Applies `edit` to the fields of every line of the shape, and keeps the
/// other lines and the final newline as they are.
fn rewrite(text: &str, count: usize, edit: impl Fn(&mut Vec<String>)) -> String {
    let mut output = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let (content, ending) = match line.strip_suffix('\n') {
            Some(content) => (content, "\n"),
            None => (line, ""),
        };
        match parse(content, count) {
            Some(fields) => {
                let mut fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
                edit(&mut fields);
                output.push_str(&fields.join(":"));
            }
            None => output.push_str(content),
        }
        output.push_str(ending);
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          # a comment\n\
                          www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                          ubuntu:x:1000:1000::/home/ubuntu:/bin/sh\n\
                          helper:x:1001:33::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:helper\nubuntu:x:1000:\n";

    #[test]
    fn user_ids_are_found() {
        assert_eq!(
            find_user(PASSWD, "www-data"),
            Some(Ids { uid: 33, gid: 33 })
        );
        assert_eq!(find_user(PASSWD, "nobody"), None);
        assert_eq!(find_user(PASSWD, "www"), None);
    }

    #[test]
    fn uid_change_touches_one_line() -> Result<(), RemapError> {
        let text = set_uid(PASSWD, "www-data", 4321)?;

        assert!(text.contains("\nwww-data:x:4321:33:www-data:/var/www:/usr/sbin/nologin\n"));
        assert_eq!(text.replace("4321", "33"), PASSWD);
        Ok(())
    }

    #[test]
    fn uid_of_other_account_is_rejected() {
        let error = set_uid(PASSWD, "www-data", 1000).err();

        assert_eq!(
            error.map(|error| error.to_string()),
            Some("PUID 1000 is already used by account `ubuntu`; choose a free uid".to_owned())
        );
    }

    #[test]
    fn same_uid_is_accepted() -> Result<(), RemapError> {
        assert_eq!(set_uid(PASSWD, "www-data", 33)?, PASSWD);
        Ok(())
    }

    #[test]
    fn group_renumbering_moves_members() -> Result<(), RemapError> {
        let (name, group) = renumber_group(GROUP, 33, 4000, ("www-data", "/etc/group"))?;
        let passwd = move_primary_group(PASSWD, 33, 4000);

        assert_eq!(name, "www-data");
        assert_eq!(group, "root:x:0:\nwww-data:x:4000:helper\nubuntu:x:1000:\n");
        assert!(passwd.contains("www-data:x:33:4000:"));
        assert!(passwd.contains("helper:x:1001:4000:"));
        assert!(passwd.contains("ubuntu:x:1000:1000:"));
        Ok(())
    }

    #[test]
    fn gid_of_other_group_is_rejected() {
        let error = renumber_group(GROUP, 33, 0, ("www-data", "/etc/group")).err();

        assert_eq!(
            error,
            Some(RemapError::GidTaken {
                gid: 0,
                group: "root".to_owned()
            })
        );
    }

    #[test]
    fn missing_primary_group_is_reported() {
        let error = renumber_group(GROUP, 77, 4000, ("www-data", "/etc/group")).err();
        let message = error.map(|error| error.to_string());

        assert_eq!(
            message.as_deref(),
            Some("the primary group of `www-data` (gid 77) is not in /etc/group")
        );
    }

    #[test]
    fn odd_lines_and_missing_final_newline_survive() -> Result<(), RemapError> {
        let text = "+::::::\nwww-data:x:33:33::/var/www:/bin/false";
        let changed = set_uid(text, "www-data", 5000)?;

        assert_eq!(changed, "+::::::\nwww-data:x:5000:33::/var/www:/bin/false");
        Ok(())
    }
}
