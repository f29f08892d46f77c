//! The agent's tools as the model sees them: one table gives both the JSON-schema
//! declarations sent to the model and the check every call's arguments pass before the IDE
//! sends it to `/api/tools/NAME` (where the appliance checks again). The table names exactly
//! the appliance's tools (its unit tests compare); no argument a person decides (an approval
//! id, a base version) is offered.

use serde_json::{Map, Value, json};

/// A JSON type an argument may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// `true` or `false`.
    Flag,
    /// A whole number ≥ 0.
    Count,
    /// A list of strings.
    Words,
}

/// One argument.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether a call must give it.
    pub required: bool,
    /// What it means, for the model.
    pub about: &'static str,
}

/// One tool.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The name (also the path under `/api/tools/`).
    pub name: &'static str,
    /// What it does, for the model.
    pub about: &'static str,
    /// Its arguments.
    pub params: &'static [Param],
}

const fn param(name: &'static str, kind: Kind, required: bool, about: &'static str) -> Param {
    Param {
        name,
        kind,
        required,
        about,
    }
}

/// Every tool the agent has (the appliance's `TOOL_NAMES`), the ones a task most needs first:
/// a small model leans towards the first tools it is shown.
pub const TOOLS: &[Spec] = &[
    Spec {
        name: "apply_edit",
        about: "Write a file's complete new content (creating it if needed). The user reviews the diff first and may accept only some of it.",
        params: &[
            param(
                "path",
                Kind::Text,
                true,
                "File path relative to the workspace root.",
            ),
            param(
                "content",
                Kind::Text,
                true,
                "The file's complete new content.",
            ),
        ],
    },
    Spec {
        name: "run_command",
        about: "Run a shell command in the workspace, in a sandbox without network; returns its output and exit code.",
        params: &[
            param(
                "command",
                Kind::Text,
                true,
                "The command line, run by bash.",
            ),
            param(
                "timeout_secs",
                Kind::Count,
                false,
                "Time limit in seconds (default 60, at most 600).",
            ),
        ],
    },
    Spec {
        name: "read_file",
        about: "Read a text file of the workspace.",
        params: &[param(
            "path",
            Kind::Text,
            true,
            "File path relative to the workspace root.",
        )],
    },
    Spec {
        name: "list_dir",
        about: "List the files and folders in a workspace folder.",
        params: &[param(
            "path",
            Kind::Text,
            false,
            "Folder relative to the workspace root; empty for the root.",
        )],
    },
    Spec {
        name: "search",
        about: "Search the workspace's files for text; returns matching lines with paths and line numbers.",
        params: &[
            param(
                "query",
                Kind::Text,
                true,
                "The text (or regular expression) to find.",
            ),
            param(
                "regex",
                Kind::Flag,
                false,
                "Treat the query as a regular expression.",
            ),
            param("case_sensitive", Kind::Flag, false, "Match case exactly."),
            param(
                "max_results",
                Kind::Count,
                false,
                "Most matches to return (default 100).",
            ),
        ],
    },
    Spec {
        name: "propose_edit",
        about: "Show the unified diff that writing new content to a file would make, without writing it.",
        params: &[
            param(
                "path",
                Kind::Text,
                true,
                "File path relative to the workspace root.",
            ),
            param(
                "content",
                Kind::Text,
                true,
                "The file's complete new content.",
            ),
        ],
    },
    Spec {
        name: "git",
        about: "Run git with these arguments in the workspace (local operations only).",
        params: &[param(
            "args",
            Kind::Words,
            true,
            "The arguments after `git`, e.g. [\"status\"] or [\"diff\", \"--stat\"].",
        )],
    },
];

/// The tool named `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    TOOLS.iter().find(|s| s.name == name)
}

fn schema_of(kind: Kind) -> Value {
    match kind {
        Kind::Text => json!({ "type": "string" }),
        Kind::Flag => json!({ "type": "boolean" }),
        Kind::Count => json!({ "type": "integer", "minimum": 0 }),
        Kind::Words => json!({ "type": "array", "items": { "type": "string" } }),
    }
}

impl Spec {
    /// The JSON schema of this tool's arguments.
    pub fn schema(&self) -> Value {
        let mut properties = Map::new();
        for p in self.params {
            let mut schema = schema_of(p.kind);
            schema["description"] = p.about.into();
            properties.insert(p.name.into(), schema);
        }
        let required: Vec<&str> = self
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The declaration a chat template or an OpenAI-compatible server takes.
    pub fn declaration(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.about,
                "parameters": self.schema(),
            }
        })
    }

    /// Checks `arguments` against the schema: an object, every required argument present,
    /// each of its type, nothing else.
    pub fn check(&self, arguments: &Value) -> Result<(), String> {
        let object = arguments
            .as_object()
            .ok_or_else(|| format!("the arguments of {} must be a JSON object", self.name))?;
        for key in object.keys() {
            if !self.params.iter().any(|p| p.name == key) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name).collect();
                return Err(format!(
                    "{} has no argument {key:?} (it takes {})",
                    self.name,
                    known.join(", ")
                ));
            }
        }
        for p in self.params {
            let Some(value) = object.get(p.name) else {
                if p.required {
                    return Err(format!("{} needs the argument {:?}", self.name, p.name));
                }
                continue;
            };
            let fits = match p.kind {
                Kind::Text => value.is_string(),
                Kind::Flag => value.is_boolean(),
                Kind::Count => value.is_u64(),
                Kind::Words => value
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string)),
            };
            if !fits {
                let wanted = match p.kind {
                    Kind::Text => "a string",
                    Kind::Flag => "true or false",
                    Kind::Count => "a whole number",
                    Kind::Words => "a list of strings",
                };
                return Err(format!(
                    "the argument {:?} of {} must be {wanted}",
                    p.name, self.name
                ));
            }
        }
        Ok(())
    }
}

/// The JSON schema of one call, `{"name": TOOL, "arguments": {…}}` for any tool, as an
/// OpenAI `response_format`: a server decoding under it can only write a valid call.
pub fn call_format() -> Value {
    let calls: Vec<Value> = TOOLS
        .iter()
        .map(|spec| {
            json!({
                "type": "object",
                "properties": { "name": { "const": spec.name }, "arguments": spec.schema() },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "type": "json_schema",
        "json_schema": { "name": "tool_call", "strict": true, "schema": { "anyOf": calls } },
    })
}

/// Every tool's declaration, in table order.
pub fn declarations() -> Vec<Value> {
    TOOLS.iter().map(Spec::declaration).collect()
}

/// Checks a call by tool name.
pub fn check(name: &str, arguments: &Value) -> Result<(), String> {
    let known: Vec<&str> = TOOLS.iter().map(|s| s.name).collect();
    spec(name)
        .ok_or_else(|| {
            format!(
                "there is no tool {name:?}; the tools are {}",
                known.join(", ")
            )
        })?
        .check(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_json_schema_functions() {
        let all = declarations();
        assert_eq!(all.len(), 7);
        let run = &all[1]["function"];
        assert_eq!(run["name"], "run_command");
        assert_eq!(run["parameters"]["required"], json!(["command"]));
        assert_eq!(
            run["parameters"]["properties"]["timeout_secs"]["type"],
            "integer"
        );
        assert_eq!(run["parameters"]["additionalProperties"], false);
    }

    #[test]
    fn a_forced_call_has_one_schema_per_tool() {
        let format = call_format();
        let choices = format["json_schema"]["schema"]["anyOf"].as_array().unwrap();
        assert_eq!(choices.len(), TOOLS.len());
        assert_eq!(choices[2]["properties"]["name"]["const"], "read_file");
        assert_eq!(
            choices[2]["properties"]["arguments"]["required"],
            json!(["path"])
        );
    }

    #[test]
    fn arguments_are_checked_against_the_schema() {
        assert!(check("read_file", &json!({"path": "a.py"})).is_ok());
        assert!(check("list_dir", &json!({})).is_ok());
        assert!(check("git", &json!({"args": ["status"]})).is_ok());
        let refused = [
            ("read_file", json!({})),
            ("read_file", json!({"path": 3})),
            ("read_file", json!([])),
            ("git", json!({"args": "status"})),
            ("git", json!({"args": [1]})),
            ("run_command", json!({"command": "ls", "timeout_secs": -1})),
            ("search", json!({"query": "x", "regex": "yes"})),
            // An approval is a person's decision, never the model's argument.
            ("run_command", json!({"command": "ls", "approval": "abc"})),
            ("fetch_url", json!({"url": "http://example.com"})),
        ];
        for (name, args) in refused {
            assert!(check(name, &args).is_err(), "{name} {args}");
        }
        assert!(
            check("fetch_url", &json!({}))
                .unwrap_err()
                .contains("the tools are apply_edit, run_command")
        );
    }
}
