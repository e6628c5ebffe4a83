//! The YAML node tree that decoding works on: values that remember where they came from.

/// Location of a node, so a problem can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A position in the configuration file, 1-based for humans.
    File {
        /// Line number, starting at 1.
        line: usize,
        /// Column number in characters, starting at 1.
        column: usize,
    },
    /// A value set by an environment variable, named here, instead of the file.
    Env(String),
}

impl Origin {
    /// The origin of the file as a whole, for problems that have no better place.
    pub(crate) const START: Origin = Origin::File { line: 1, column: 1 };
}

/// One YAML value with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Location of the value. An alias copies the location of its anchor.
    pub(crate) origin: Origin,
    /// The value itself.
    pub(crate) value: Value,
}

/// The three shapes a YAML value can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A string as written, before any interpretation.
    Scalar(Scalar),
    /// A list of nodes.
    Sequence(Vec<Node>),
    /// Keys with values, in the order they were written. Keys are unique.
    Mapping(Vec<Entry>),
}

/// The text of a scalar and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar {
    /// Text after YAML unescaping, before `${VAR}` substitution.
    pub(crate) text: String,
    /// Whether the scalar was quoted or a block (`|`, `>`), which makes it a
    /// string even when it reads like `null`.
    pub(crate) quoted: bool,
}

/// One key and value of a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key text. Keys are never substituted.
    pub(crate) key: String,
    /// Location of the key.
    pub(crate) key_origin: Origin,
    /// The value.
    pub(crate) value: Node,
}

impl Node {
    /// Builds a scalar node.
    pub(crate) fn scalar(text: impl Into<String>, quoted: bool, origin: Origin) -> Node {
        let scalar = Scalar {
            text: text.into(),
            quoted,
        };
        Node {
            origin,
            value: Value::Scalar(scalar),
        }
    }

    /// Tells whether the node is a YAML null: an unquoted `~`, `null` or nothing at all.
    pub(crate) fn is_null(&self) -> bool {
        match &self.value {
            Value::Scalar(scalar) if !scalar.quoted => {
                matches!(scalar.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// Returns the entries when the node is a mapping.
    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// Names the node's shape for messages, with an article: "a list".
    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar(_) if self.is_null() => "nothing",
            Value::Scalar(_) => "a string",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}
