//! A shell command line split into the simple commands it would run, for judging each one
//! against the policy's command rules: `cargo test && curl x` is two commands, and an allow
//! rule for the first must not carry the second. Quotes, escapes, `;` `&&` `||` `|` `&`,
//! newlines, redirections, `$( )` and backticks, leading `X=1` assignments, wrappers such as
//! `env`, `command`, `exec`, `nohup`, `nice`, `timeout`, absolute program paths and
//! `sh -c '…'` / `eval` are understood. What cannot be judged from the text alone (a
//! command substitution, a subshell, control flow, a program named by a variable, `xargs`,
//! `find -exec`, `source`) is reported as opaque, and the policy then asks a person.
//!
//! Hand-written rather than a full shell parser: the judgement needs only these boundaries,
//! and everything it does not understand fails towards asking (see docs/SECURITY.md).

/// A command line as the policy sees it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// Each simple command's words, normalized: assignments and wrappers dropped, the program
    /// as its file name (`/usr/bin/curl` → `curl`), quotes and escapes removed.
    pub commands: Vec<Vec<String>>,
    /// Why the line cannot be judged from its text alone, if it cannot.
    pub opaque: Option<&'static str>,
}

/// Keywords of shell control flow; a command starting with one is not a program.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac",
    "function", "select", "in", "!", "{", "}", "[[", "]]",
];

/// Programs that only run the rest of their arguments as a command.
const WRAPPERS: &[&str] = &["env", "command", "builtin", "exec", "nohup", "time", "nice"];

/// Programs that run a command the text does not show.
const INDIRECT: &[&str] = &[
    "xargs", "find", "source", ".", "parallel", "watch", "script", "su", "sudo", "doas",
];

/// Shells whose `-c` argument is itself a command line.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh"];

/// How deep `sh -c` and `eval` are followed before the line counts as opaque.
const MAX_DEPTH: usize = 4;

/// Splits `line` into its simple commands.
pub fn parse(line: &str) -> CommandLine {
    let mut out = CommandLine::default();
    parse_into(line, 0, &mut out);
    out
}

fn parse_into(line: &str, depth: usize, out: &mut CommandLine) {
    if depth > MAX_DEPTH {
        out.opaque.get_or_insert("commands nested too deeply");
        return;
    }
    let mut lexer = Lexer::new(line);
    lexer.run();
    if let Some(why) = lexer.opaque {
        out.opaque.get_or_insert(why);
    }
    for words in lexer.commands {
        normalize(words, depth, out);
    }
}

/// Drops assignments and wrappers, follows `sh -c` and `eval`, and records the command.
fn normalize(mut words: Vec<Word>, depth: usize, out: &mut CommandLine) {
    while words
        .first()
        .is_some_and(|w| KEYWORDS.contains(&w.text.as_str()))
    {
        out.opaque.get_or_insert("shell control flow");
        words.remove(0);
    }
    let mut rest = words.as_slice();
    loop {
        while rest.first().is_some_and(|w| is_assignment(&w.text)) {
            rest = &rest[1..];
        }
        let Some(first) = rest.first() else { return };
        if first.expands {
            out.opaque.get_or_insert("a program chosen by a variable");
        }
        let program = program_name(&first.text);
        if WRAPPERS.contains(&program) {
            rest = skip_options(&rest[1..], program);
            continue;
        }
        if program == "timeout" {
            rest = skip_options(&rest[1..], program);
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let words: Vec<String> = std::iter::once(program.to_owned())
            .chain(rest[1..].iter().map(|w| w.text.clone()))
            .collect();
        if SHELLS.contains(&program) {
            if let Some(i) = words.iter().position(|w| w == "-c") {
                if let Some(script) = words.get(i + 1) {
                    parse_into(script, depth + 1, out);
                }
            } else if words.len() > 1 {
                out.opaque.get_or_insert("a script file run by a shell");
            }
        } else if program == "eval" {
            parse_into(&words[1..].join(" "), depth + 1, out);
        } else if INDIRECT.contains(&program) {
            out.opaque
                .get_or_insert("a command that runs other commands");
        }
        out.commands.push(words);
        return;
    }
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn program_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Skips a wrapper's options (and `env`'s assignments); `-n 5` style options take a value.
fn skip_options<'a>(mut rest: &'a [Word], program: &str) -> &'a [Word] {
    let takes_value: &[&str] = match program {
        "env" => &["-u", "--unset", "-C", "--chdir"],
        "nice" => &["-n", "--adjustment"],
        "timeout" => &["-s", "--signal", "-k", "--kill-after"],
        _ => &[],
    };
    while let Some(first) = rest.first() {
        let text = first.text.as_str();
        if text == "--" {
            return &rest[1..];
        }
        if takes_value.contains(&text) {
            rest = rest.get(2..).unwrap_or_default();
        } else if text.starts_with('-') && text.len() > 1 || program == "env" && is_assignment(text)
        {
            rest = &rest[1..];
        } else {
            break;
        }
    }
    rest
}

/// One word, with whether it holds an unquoted `$` expansion.
#[derive(Debug, Default, Clone)]
struct Word {
    text: String,
    expands: bool,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    commands: Vec<Vec<Word>>,
    current: Vec<Word>,
    word: Option<Word>,
    /// The next word is a redirection target, not an argument.
    redirect_target: bool,
    opaque: Option<&'static str>,
}

impl<'a> Lexer<'a> {
    fn new(line: &'a str) -> Self {
        Self {
            chars: line.chars().peekable(),
            commands: Vec::new(),
            current: Vec::new(),
            word: None,
            redirect_target: false,
            opaque: None,
        }
    }

    fn push_char(&mut self, c: char) {
        self.word.get_or_insert_with(Word::default).text.push(c);
    }

    fn end_word(&mut self) {
        if let Some(word) = self.word.take() {
            if std::mem::take(&mut self.redirect_target) {
                return;
            }
            self.current.push(word);
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        self.redirect_target = false;
        let words = std::mem::take(&mut self.current);
        if !words.is_empty() {
            self.commands.push(words);
        }
    }

    fn mark(&mut self, why: &'static str) {
        self.opaque.get_or_insert(why);
    }

    fn run(&mut self) {
        while let Some(c) = self.chars.next() {
            match c {
                '\'' => {
                    self.word.get_or_insert_with(Word::default);
                    while let Some(q) = self.chars.next_if(|q| *q != '\'') {
                        self.push_char(q);
                    }
                    self.chars.next();
                }
                '"' => self.double_quoted(),
                '\\' => match self.chars.next() {
                    Some('\n') | None => {}
                    Some(escaped) => self.push_char(escaped),
                },
                '#' if self.word.is_none() => {
                    while self.chars.peek().is_some_and(|c| *c != '\n') {
                        self.chars.next();
                    }
                }
                ' ' | '\t' => self.end_word(),
                '\n' | ';' => self.end_command(),
                '&' => {
                    if self.chars.peek() == Some(&'>') {
                        self.chars.next();
                        self.redirection();
                    } else {
                        self.chars.next_if_eq(&'&');
                        self.end_command();
                    }
                }
                '|' => {
                    self.chars.next_if_eq(&'|');
                    self.chars.next_if_eq(&'&');
                    self.end_command();
                }
                '(' | ')' => {
                    self.mark("a subshell");
                    self.end_command();
                }
                '`' => {
                    self.mark("a command substitution");
                    self.end_command();
                }
                '$' => self.dollar(),
                '<' | '>' => {
                    if self.chars.peek() == Some(&'(') {
                        self.chars.next();
                        self.mark("a process substitution");
                        self.end_command();
                        continue;
                    }
                    // `2>` : the digits were a descriptor, not a word.
                    if self
                        .word
                        .as_ref()
                        .is_some_and(|w| w.text.chars().all(|c| c.is_ascii_digit()))
                    {
                        self.word = None;
                    }
                    self.end_word();
                    self.redirection();
                }
                other => self.push_char(other),
            }
        }
        self.end_command();
    }

    /// After `<`, `>` or `&>`: more operator characters, then the target word.
    fn redirection(&mut self) {
        while self
            .chars
            .next_if(|c| matches!(c, '>' | '<' | '&' | '|'))
            .is_some()
        {}
        self.redirect_target = true;
    }

    fn dollar(&mut self) {
        if self.chars.peek() == Some(&'(') {
            self.chars.next();
            if self.chars.peek() == Some(&'(') {
                // `$(( … ))` is arithmetic, but may hold `$( )` itself.
                self.mark("an arithmetic expansion");
                self.push_char('$');
                return;
            }
            self.mark("a command substitution");
            self.end_command();
            return;
        }
        let word = self.word.get_or_insert_with(Word::default);
        word.expands = true;
        word.text.push('$');
    }

    fn double_quoted(&mut self) {
        self.word.get_or_insert_with(Word::default);
        while let Some(c) = self.chars.next() {
            match c {
                '"' => return,
                '\\' => match self.chars.next() {
                    Some(e @ ('"' | '\\' | '$' | '`')) => self.push_char(e),
                    Some('\n') | None => {}
                    Some(other) => {
                        self.push_char('\\');
                        self.push_char(other);
                    }
                },
                '`' => {
                    self.mark("a command substitution");
                    self.push_char(c);
                }
                '$' if self.chars.peek() == Some(&'(') => {
                    self.mark("a command substitution");
                    self.push_char(c);
                }
                '$' => {
                    if let Some(w) = self.word.as_mut() {
                        w.expands = true;
                    }
                    self.push_char(c);
                }
                other => self.push_char(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(line: &str) -> Vec<String> {
        parse(line).commands.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn compound_lines_split_into_their_commands() {
        assert_eq!(
            commands("cargo test && curl x; ls | grep a || echo b & wc\nrm -rf out"),
            [
                "cargo test",
                "curl x",
                "ls",
                "grep a",
                "echo b",
                "wc",
                "rm -rf out"
            ]
        );
        assert_eq!(parse("cargo test --all").opaque, None);
    }

    #[test]
    fn quotes_escapes_paths_assignments_and_wrappers_are_seen_through() {
        assert_eq!(commands("'cur'l x"), ["curl x"]);
        assert_eq!(commands("c\\url x"), ["curl x"]);
        assert_eq!(commands("/usr/bin/curl x"), ["curl x"]);
        assert_eq!(commands("X=1 Y=2 curl x"), ["curl x"]);
        assert_eq!(commands("env -i -u HOME A=b /bin/curl x"), ["curl x"]);
        assert_eq!(commands("nohup nice -n 5 command exec curl x"), ["curl x"]);
        assert_eq!(commands("timeout -s KILL 5 curl x"), ["curl x"]);
        assert_eq!(commands("echo 'a; curl b'"), ["echo a; curl b"]);
        assert_eq!(commands("echo \"a && b\" # ; curl"), ["echo a && b"]);
    }

    #[test]
    fn redirections_are_not_arguments_or_programs() {
        assert_eq!(
            commands("cargo test 2>&1 >out.txt | grep ok"),
            ["cargo test", "grep ok"]
        );
        assert_eq!(commands("ls &> log; cat < in"), ["ls", "cat"]);
    }

    #[test]
    fn shells_and_eval_are_followed() {
        assert_eq!(
            commands("bash -c 'ls && curl x'"),
            ["ls", "curl x", "bash -c ls && curl x"]
        );
        assert_eq!(commands("eval curl x"), ["curl x", "eval curl x"]);
        assert!(parse("sh script.sh").opaque.is_some());
    }

    #[test]
    fn what_text_cannot_show_is_opaque() {
        for line in [
            "cargo test $(curl x)",
            "cargo test `curl x`",
            "echo \"$(curl x)\"",
            "(curl x)",
            "$TOOL x",
            "if true; then curl x; fi",
            "ls | xargs rm",
            "find . -exec rm {} ;",
            "diff <(ls) b",
            "source env.sh",
        ] {
            assert!(parse(line).opaque.is_some(), "{line}");
        }
        // The substitution's own command is still seen.
        assert!(commands("cargo test $(curl x)").contains(&"curl x".to_owned()));
    }
}
