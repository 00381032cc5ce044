//! What the tests read out of the manual pages in man/.

/// The literal blocks (`.Bd -literal` .. `.Ed`) of the EXAMPLES section of
/// the mdoc page `page`, in order, with mdoc's `\e` turned back into a
/// backslash: the configurations and commands as an operator copies them.
pub fn man_examples(page: &str) -> Vec<String> {
    let Some(examples) = page
        .split(".Sh EXAMPLES")
        .nth(1)
        .and_then(|rest| rest.split("\n.Sh ").next())
    else {
        return Vec::new();
    };
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    for line in examples.lines() {
        if line.starts_with(".Bd -literal") {
            block = Some(String::new());
        } else if line.starts_with(".Ed") {
            blocks.extend(block.take());
        } else if let Some(text) = block.as_mut() {
            text.push_str(&line.replace("\\e", "\\"));
            text.push('\n');
        }
    }
    blocks
}
