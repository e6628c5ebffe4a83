//! Framework detection from marker files in the app directory.

use std::fmt;
use std::path::Path;

/// The PHP framework an app is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framework {
    /// An `artisan` file.
    Laravel,
    /// `bin/console` together with `symfony.lock`, `config/bundles.php` or
    /// a `var/` folder.
    Symfony,
    /// `wp-config.php` or `wp-includes/version.php`.
    WordPress,
    /// Anything else.
    Plain,
}

impl Framework {
    /// Detects the framework of the app in `app_dir`. The first match wins,
    /// in the order Laravel, Symfony, WordPress.
    pub(crate) fn detect(app_dir: &Path) -> Framework {
        let is_file = |name: &str| app_dir.join(name).is_file();
        let is_dir = |name: &str| app_dir.join(name).is_dir();

        if is_file("artisan") {
            Framework::Laravel
        } else if is_file("bin/console")
            && (is_file("symfony.lock") || is_file("config/bundles.php") || is_dir("var"))
        {
            Framework::Symfony
        } else if is_file("wp-config.php") || is_file("wp-includes/version.php") {
            Framework::WordPress
        } else {
            Framework::Plain
        }
    }

    /// Returns the name given to templates and printed at start.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Laravel => "laravel",
            Framework::Symfony => "symfony",
            Framework::WordPress => "wordpress",
            Framework::Plain => "php",
        }
    }

    /// Folders the app writes to, relative to the app directory. They are
    /// created at start.
    pub(crate) fn writable_folders(self) -> &'static [&'static str] {
        match self {
            Framework::Laravel => &[
                "storage/framework/cache/data",
                "storage/framework/sessions",
                "storage/framework/views",
                "storage/logs",
                "storage/app/public",
                "bootstrap/cache",
            ],
            Framework::Symfony => &["var/cache", "var/log"],
            Framework::WordPress => &["wp-content/uploads"],
            Framework::Plain => &[],
        }
    }

    /// Folders handed to the app user with everything in them. Each
    /// contains some of [`Framework::writable_folders`] and nothing the app
    /// only reads.
    pub(crate) fn owned_folders(self) -> &'static [&'static str] {
        match self {
            Framework::Laravel => &["storage", "bootstrap/cache"],
            Framework::Symfony => &["var"],
            Framework::WordPress => &["wp-content/uploads"],
            Framework::Plain => &[],
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Framework::Laravel => "Laravel",
            Framework::Symfony => "Symfony",
            Framework::WordPress => "WordPress",
            Framework::Plain => "plain PHP",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_with(files: &[&str], dirs: &[&str]) -> std::io::Result<tempfile::TempDir> {
        let app = tempfile::tempdir()?;
        for dir in dirs {
            std::fs::create_dir_all(app.path().join(dir))?;
        }
        for file in files {
            let path = app.path().join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, "")?;
        }
        Ok(app)
    }

    fn detect(files: &[&str], dirs: &[&str]) -> std::io::Result<Framework> {
        Ok(Framework::detect(app_with(files, dirs)?.path()))
    }

    #[test]
    fn laravel_by_artisan() -> std::io::Result<()> {
        assert_eq!(detect(&["artisan"], &[])?, Framework::Laravel);
        assert_eq!(detect(&[], &["artisan"])?, Framework::Plain);
        Ok(())
    }

    #[test]
    fn symfony_needs_console_and_a_second_marker() -> std::io::Result<()> {
        assert_eq!(detect(&["bin/console"], &[])?, Framework::Plain);
        for marker in ["symfony.lock", "config/bundles.php"] {
            assert_eq!(detect(&["bin/console", marker], &[])?, Framework::Symfony);
        }
        assert_eq!(detect(&["bin/console"], &["var"])?, Framework::Symfony);
        assert_eq!(detect(&["symfony.lock"], &["var"])?, Framework::Plain);
        Ok(())
    }

    #[test]
    fn wordpress_by_config_or_version_file() -> std::io::Result<()> {
        assert_eq!(detect(&["wp-config.php"], &[])?, Framework::WordPress);
        let version = detect(&["wp-includes/version.php"], &[])?;

        assert_eq!(version, Framework::WordPress);
        assert_eq!(detect(&["wp-config-sample.php"], &[])?, Framework::Plain);
        Ok(())
    }

    #[test]
    fn laravel_wins_over_other_markers() -> std::io::Result<()> {
        let both = detect(&["artisan", "bin/console", "symfony.lock"], &[])?;

        assert_eq!(both, Framework::Laravel);
        Ok(())
    }

    #[test]
    fn missing_app_dir_is_plain_php() {
        let missing = Framework::detect(Path::new("/nonexistent/phpeek-app"));

        assert_eq!(missing, Framework::Plain);
    }

    #[test]
    fn owned_folders_cover_writable_folders() {
        let all = [
            Framework::Laravel,
            Framework::Symfony,
            Framework::WordPress,
            Framework::Plain,
        ];
        for framework in all {
            for folder in framework.writable_folders() {
                let covered = framework
                    .owned_folders()
                    .iter()
                    .any(|owned| folder.starts_with(owned));

                assert!(covered, "{framework}: {folder}");
            }
        }
    }
}
