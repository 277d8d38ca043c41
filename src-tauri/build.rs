//! Build script: Tauri's code generation (config, capabilities, icons).
//!
//! The UI is built by Vite into `ui/dist`, which `tauri::generate_context!` embeds.
//! A workspace-wide `cargo build`/`clippy` must not fail just because nobody ran
//! `npm run build` yet, so a placeholder page is written when `ui/dist` is missing;
//! `scripts/run.sh` and `scripts/test.sh` always build the real UI first.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    if !dist.join("index.html").exists() {
        let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>WZP</title></head>\
            <body><p>The user interface was not built. Run <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, \
            or start the app with <code>scripts/run.sh</code>.</p></body></html>";
        if std::fs::create_dir_all(&dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), page))
            .is_err()
        {
            println!("cargo::warning=cannot write a placeholder ui/dist/index.html");
        }
    }
    tauri_build::build();
}
