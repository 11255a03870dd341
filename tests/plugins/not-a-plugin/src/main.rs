//! Test fixture: a plain WASI command. As a component it exports `wasi:cli/run` and
//! none of Bosun's worlds, so the host must refuse it as "not a plugin".

fn main() {
    println!("not a Bosun plugin: a plain WASI command");
}
