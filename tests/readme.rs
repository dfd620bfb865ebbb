//! The README's table of supported ops is the one the code generates (`intrain ops --markdown`).

mod common;

#[test]
fn readme_op_table_is_generated_from_the_code() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README.md");
    let start =
        readme.find("<!-- ops:start -->").expect("ops:start marker") + "<!-- ops:start -->\n".len();
    let end = readme.find("<!-- ops:end -->").expect("ops:end marker");
    assert_eq!(
        &readme[start..end],
        intrain::autodiff::op_table_markdown(),
        "README op table is stale: replace it with the output of `intrain ops --markdown`"
    );
}
