//! Reading relayd.conf files the way relayd's lexer does, before the
//! grammar sees them: `\` line continuation, `#` comments, quoting,
//! `name="value"` macro definitions, `$name` expansion outside quotes and
//! `include "file"` (nested, with a depth limit and loop detection).
//!
//! The result is one normalized text: quoted strings are rewritten as
//! `"..."` with only `\"` and `\\` escapes and never span lines, comments
//! and continuations are gone. Every byte remembers where it came from
//! ([`Loc`]), so errors found later point at the original file, line and
//! column.

use crate::macros::{is_macro_name_char, MacroTable};
use crate::ConfigError;
use std::path::{Path, PathBuf};

/// How deep `include` may nest before we give up (relayd has no limit; a
/// limit turns runaway recursion into a clear error).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// A position in an input file: index into [`Normalized::files`], 1-based
/// line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: usize,
    pub line: u32,
    pub column: u32,
}

/// The preprocessed configuration.
#[derive(Debug, Default)]
pub struct Normalized {
    pub text: String,
    /// Origin of each byte of `text`, plus one entry for the end of input.
    pub locs: Vec<Loc>,
    /// File names as given (top file first, then includes).
    pub files: Vec<String>,
    /// Byte offsets in `text` of the newlines that end top-level
    /// statements (outside any `{ ... }`).
    pub statement_ends: Vec<usize>,
}

impl Normalized {
    pub fn loc_at(&self, offset: usize) -> Loc {
        self.locs
            .get(offset)
            .or_else(|| self.locs.last())
            .copied()
            .unwrap_or_default()
    }

    pub fn error_at(&self, loc: Loc, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.files.get(loc.file).cloned().unwrap_or_default(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
        }
    }

    fn push(&mut self, c: char, loc: Loc) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.locs.push(loc);
        }
    }
}

/// Characters relayd accepts inside a bare word after its first character.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii_punctuation() && !"(){}<>!=#,/".contains(c))
}

/// Characters that start a bare word.
fn is_word_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// One input character with its origin. `from_macro` marks text that came
/// from a `$name` expansion: relayd does not expand `$` inside it again.
#[derive(Clone, Copy)]
struct Item {
    c: char,
    loc: Loc,
    from_macro: bool,
}

/// Characters of one file, with pushback for macro expansion.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
    file: usize,
    pushed: Vec<Item>,
}

impl Cursor {
    fn new(text: &str, file: usize) -> Self {
        Cursor {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            column: 1,
            file,
            pushed: Vec::new(),
        }
    }

    fn here(&self) -> Loc {
        Loc {
            file: self.file,
            line: self.line,
            column: self.column,
        }
    }

    /// The next raw character (no continuation handling).
    fn raw(&mut self) -> Option<Item> {
        if let Some(item) = self.pushed.pop() {
            return Some(item);
        }
        let c = *self.chars.get(self.pos)?;
        let loc = self.here();
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(Item {
            c,
            loc,
            from_macro: false,
        })
    }

    /// The next character outside quotes: `\` + newline joins lines and
    /// `\` + any other character stands for that character, as relayd's
    /// `lgetc` does.
    fn unquoted(&mut self) -> Option<Item> {
        loop {
            let item = self.raw()?;
            if item.c != '\\' || item.from_macro {
                return Some(item);
            }
            match self.raw() {
                Some(next) if next.c == '\n' => continue,
                Some(next) => return Some(next),
                None => return Some(item),
            }
        }
    }

    fn unread(&mut self, item: Item) {
        self.pushed.push(item);
    }

    fn peek_unquoted(&mut self) -> Option<Item> {
        let item = self.unquoted()?;
        self.unread(item);
        Some(item)
    }

    /// Raw characters from here to the end of the line, for look-ahead
    /// (read in place: this runs at the start of every line).
    fn rest_of_line(&self) -> impl Iterator<Item = char> + '_ {
        let pushed = self.pushed.iter().rev().map(|i| i.c);
        let rest = self
            .chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .copied();
        pushed.chain(rest).take_while(|c| *c != '\n')
    }
}

/// Reads the configuration: the top file (`text`, named `file_name`) and
/// every file it includes.
pub struct Preprocessor {
    macros: MacroTable,
    out: Normalized,
    errors: Vec<ConfigError>,
    /// Canonical paths of the files being read, outermost first.
    include_stack: Vec<PathBuf>,
    brace_depth: usize,
}

impl Preprocessor {
    pub fn new(macros: MacroTable) -> Self {
        Preprocessor {
            macros,
            out: Normalized::default(),
            errors: Vec::new(),
            include_stack: Vec::new(),
            brace_depth: 0,
        }
    }

    /// Preprocesses `text`; errors are collected, the text is always
    /// returned (possibly partial) so parsing can report more problems.
    pub fn run(mut self, text: &str, file_name: &str) -> (Normalized, Vec<ConfigError>) {
        let file = self.add_file(file_name);
        // The normalized text is about as long as the input: grown in
        // place, not by doubling from empty.
        self.out.text.reserve(text.len() + 1);
        self.out.locs.reserve(text.len() + 2);
        if let Ok(canonical) = Path::new(file_name).canonicalize() {
            self.include_stack.push(canonical);
        }
        self.process(text, file);
        if !self.out.text.ends_with('\n') {
            let loc = self.out.locs.last().copied().unwrap_or(Loc {
                file,
                line: 1,
                column: 1,
            });
            self.emit_newline(loc);
        }
        let end = self.out.locs.last().copied().unwrap_or_default();
        self.out.locs.push(end);
        (self.out, self.errors)
    }

    fn add_file(&mut self, name: &str) -> usize {
        self.out.files.push(name.to_string());
        self.out.files.len() - 1
    }

    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        let error = self.out.error_at(loc, message);
        self.errors.push(error);
    }

    fn emit(&mut self, c: char, loc: Loc) {
        self.out.push(c, loc);
    }

    fn emit_newline(&mut self, loc: Loc) {
        if self.brace_depth == 0 {
            self.out.statement_ends.push(self.out.text.len());
        }
        self.out.push('\n', loc);
    }

    fn process(&mut self, text: &str, file: usize) {
        let mut cursor = Cursor::new(text, file);
        let mut at_line_start = true;
        while let Some(item) = cursor.unquoted() {
            if at_line_start && self.brace_depth == 0 && !item.from_macro {
                // Read the line again from its start, as a definition or
                // as ordinary text.
                at_line_start = false;
                cursor.unread(item);
                self.try_macro_definition(&mut cursor);
                continue;
            }
            at_line_start = false;
            match item.c {
                '\n' => {
                    self.emit_newline(item.loc);
                    at_line_start = true;
                }
                '#' => skip_comment(&mut cursor),
                '"' | '\'' => self.quoted(&mut cursor, item),
                '$' if !item.from_macro => self.expand(&mut cursor, item),
                c if is_word_start(c) => self.word(&mut cursor, item),
                '{' => {
                    self.brace_depth += 1;
                    self.emit('{', item.loc);
                }
                '}' => {
                    self.brace_depth = self.brace_depth.saturating_sub(1);
                    self.emit('}', item.loc);
                }
                c => self.emit(c, item.loc),
            }
        }
    }

    /// `$name`: pushes the macro's value back into the input, to be read
    /// like the text it stands for.
    fn expand(&mut self, cursor: &mut Cursor, dollar: Item) {
        let mut name = String::new();
        while let Some(item) = cursor.unquoted() {
            if is_macro_name_char(item.c) && !item.from_macro {
                name.push(item.c);
            } else {
                cursor.unread(item);
                break;
            }
        }
        match self.macros.get(&name) {
            Some(value) => {
                for c in value.chars().rev() {
                    cursor.unread(Item {
                        c,
                        loc: dollar.loc,
                        from_macro: true,
                    });
                }
            }
            None if name.is_empty() => {
                self.error(dollar.loc, "syntax error, expected a macro name after '$'")
            }
            None => self.error(dollar.loc, format!("macro '{name}' not defined")),
        }
    }

    /// A bare word; `include` pulls in the named file.
    fn word(&mut self, cursor: &mut Cursor, first: Item) {
        let mut word = vec![first];
        while let Some(item) = cursor.unquoted() {
            if is_word_char(item.c) {
                word.push(item);
            } else {
                cursor.unread(item);
                break;
            }
        }
        if word.iter().map(|i| i.c).eq("include".chars()) {
            self.include(cursor, first.loc);
            return;
        }
        for item in word {
            self.emit(item.c, item.loc);
        }
    }

    /// A quoted string, written back in normalized form.
    fn quoted(&mut self, cursor: &mut Cursor, open: Item) {
        self.emit('"', open.loc);
        match read_quoted(cursor, open) {
            Ok(chars) => {
                for (c, loc) in chars {
                    if c == '"' || c == '\\' {
                        self.emit('\\', loc);
                    }
                    self.emit(c, loc);
                }
                let end = cursor.here();
                self.emit('"', end);
            }
            Err((loc, message)) => {
                self.error(loc, message);
                self.emit('"', loc);
            }
        }
    }

    /// `include PATH` (the word `include` is already read).
    fn include(&mut self, cursor: &mut Cursor, at: Loc) {
        let path = match read_argument(cursor, &self.macros) {
            Ok(Some(path)) => path,
            Ok(None) => {
                self.error(at, "syntax error, expected a file name after 'include'");
                return;
            }
            Err((loc, message)) => {
                self.error(loc, message);
                return;
            }
        };
        if self.include_stack.len() > MAX_INCLUDE_DEPTH {
            self.error(
                at,
                format!(
                    "failed to include file {path}: includes nested more than \
                     {MAX_INCLUDE_DEPTH} deep"
                ),
            );
            return;
        }
        let canonical = match Path::new(&path).canonicalize() {
            Ok(p) => p,
            Err(e) => {
                self.error(at, format!("failed to include file {path}: {e}"));
                return;
            }
        };
        if self.include_stack.contains(&canonical) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.display().to_string())
                .collect();
            self.error(
                at,
                format!(
                    "failed to include file {path}: include loop ({})",
                    chain.join(" -> ")
                ),
            );
            return;
        }
        let text = match std::fs::read_to_string(&canonical) {
            Ok(text) => text,
            Err(e) => {
                self.error(at, format!("failed to include file {path}: {e}"));
                return;
            }
        };
        let file = self.add_file(&path);
        self.include_stack.push(canonical);
        self.process(&text, file);
        self.include_stack.pop();
        // relayd ends an included file with a newline of its own.
        self.emit_newline(at);
    }

    /// At the start of a top-level line: when the line is `name = value`,
    /// defines the macro and consumes the line up to (not including) its
    /// newline; otherwise leaves the line alone.
    fn try_macro_definition(&mut self, cursor: &mut Cursor) {
        if !looks_like_definition(cursor.rest_of_line()) {
            return;
        }
        skip_blanks(cursor);
        let start = cursor.peek_unquoted().map_or(cursor.here(), |i| i.loc);
        let name_loc = start;
        let mut name = String::new();
        while let Some(item) = cursor.unquoted() {
            if is_macro_name_char(item.c) {
                name.push(item.c);
            } else {
                cursor.unread(item);
                break;
            }
        }
        skip_blanks(cursor);
        let _equals = cursor.unquoted();
        let value = match read_argument(cursor, &self.macros) {
            Ok(Some(value)) => value,
            Ok(None) => {
                self.error(
                    start,
                    format!("syntax error, expected a value for macro '{name}'"),
                );
                skip_to_newline(cursor);
                return;
            }
            Err((loc, message)) => {
                self.error(loc, message);
                skip_to_newline(cursor);
                return;
            }
        };
        skip_blanks(cursor);
        match cursor.peek_unquoted() {
            None => {}
            Some(item) if item.c == '\n' => {}
            Some(item) if item.c == '#' => skip_comment(cursor),
            Some(item) => {
                self.error(
                    item.loc,
                    format!(
                        "syntax error, unexpected text after the value of macro \
                         '{name}' (quote values that contain blanks)"
                    ),
                );
                skip_to_newline(cursor);
            }
        }
        if let Err(message) = self.macros.define(&name, &value) {
            self.error(name_loc, message);
        }
    }
}

/// `name =` at the start of a line (blanks allowed).
fn looks_like_definition(mut line: impl Iterator<Item = char>) -> bool {
    let mut c = line.next();
    while matches!(c, Some(' ' | '\t')) {
        c = line.next();
    }
    let mut name_len = 0;
    while c.is_some_and(is_macro_name_char) {
        name_len += 1;
        c = line.next();
    }
    while matches!(c, Some(' ' | '\t')) {
        c = line.next();
    }
    name_len > 0 && c == Some('=')
}

fn skip_blanks(cursor: &mut Cursor) {
    while let Some(item) = cursor.unquoted() {
        if item.c != ' ' && item.c != '\t' && item.c != '\r' {
            cursor.unread(item);
            break;
        }
    }
}

/// Skips to (not past) the end of the line; a `\` continuation extends a
/// comment to the next line, as in relayd.
fn skip_comment(cursor: &mut Cursor) {
    skip_to_newline(cursor);
}

fn skip_to_newline(cursor: &mut Cursor) {
    while let Some(item) = cursor.unquoted() {
        if item.c == '\n' {
            cursor.unread(item);
            break;
        }
    }
}

type LexError = (Loc, String);

/// The characters of a quoted string whose opening quote is read, with
/// relayd's escapes applied: `\` before the quote, a blank or a newline.
fn read_quoted(cursor: &mut Cursor, open: Item) -> Result<Vec<(char, Loc)>, LexError> {
    let mut chars = Vec::new();
    loop {
        let Some(item) = cursor.raw() else {
            return Err((
                open.loc,
                "reached end of file while parsing quoted string".to_string(),
            ));
        };
        match item.c {
            '\n' => continue,
            '\0' => return Err((item.loc, "syntax error, NUL byte in string".into())),
            '\\' => match cursor.raw() {
                None => {
                    return Err((
                        open.loc,
                        "reached end of file while parsing quoted string".to_string(),
                    ))
                }
                Some(next) if next.c == '\n' => continue,
                Some(next) if next.c == open.c || next.c == ' ' || next.c == '\t' => {
                    chars.push((next.c, next.loc));
                }
                Some(next) => {
                    cursor.unread(next);
                    chars.push(('\\', item.loc));
                }
            },
            c if c == open.c => return Ok(chars),
            c => chars.push((c, item.loc)),
        }
    }
}

/// One argument (quoted string, `$macro` or bare word) after blanks, as
/// plain text. `Ok(None)` when the line ends first.
fn read_argument(cursor: &mut Cursor, macros: &MacroTable) -> Result<Option<String>, LexError> {
    skip_blanks(cursor);
    let Some(first) = cursor.unquoted() else {
        return Ok(None);
    };
    match first.c {
        '"' | '\'' => {
            let chars = read_quoted(cursor, first)?;
            Ok(Some(chars.into_iter().map(|(c, _)| c).collect()))
        }
        '$' if !first.from_macro => {
            let mut name = String::new();
            while let Some(item) = cursor.unquoted() {
                if is_macro_name_char(item.c) {
                    name.push(item.c);
                } else {
                    cursor.unread(item);
                    break;
                }
            }
            match macros.get(&name) {
                Some(value) => Ok(Some(value.to_string())),
                None => Err((first.loc, format!("macro '{name}' not defined"))),
            }
        }
        c if is_word_start(c) || c == '-' || c == '.' || c == '/' => {
            let mut word = String::from(c);
            while let Some(item) = cursor.unquoted() {
                if is_word_char(item.c) || item.c == '/' {
                    word.push(item.c);
                } else {
                    cursor.unread(item);
                    break;
                }
            }
            Ok(Some(word))
        }
        _ => {
            cursor.unread(first);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Normalized, Vec<ConfigError>) {
        Preprocessor::new(MacroTable::default()).run(text, "test.conf")
    }

    #[test]
    fn comments_continuations_and_quotes_are_normalized() {
        let (out, errors) = run("a b \\\n  c # comment \\\n still comment\n'x \"y\"' \"p\\ q\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.text, "a b   c \n\"x \\\"y\\\"\" \"p q\"\n");
        // `c` comes from line 2, column 3.
        let c = out.text.find('c').unwrap();
        assert_eq!((out.locs[c].line, out.locs[c].column), (2, 3));
    }

    #[test]
    fn macros_expand_outside_quotes_only() {
        let (out, errors) = run("addr=\"10.0.0.1\"\nlisten on $addr \"$addr\" x$addr\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.text, "\nlisten on 10.0.0.1 \"$addr\" x$addr\n");
    }

    #[test]
    fn undefined_macro_is_an_error_with_location() {
        let (_, errors) = run("table <t> { $nope }\n");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (1, 13));
        assert!(errors[0].message.contains("macro 'nope' not defined"));
    }

    #[test]
    fn statement_ends_ignore_newlines_inside_braces() {
        let (out, _) = run("a {\nb\n}\nc\n");
        assert_eq!(out.statement_ends, vec![7, 9]);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let (_, errors) = run("x \"abc\n");
        assert!(errors[0].message.contains("end of file"));
    }
}
