//! A small W3C WebDriver client over tauri-driver (which drives Debian's WebKitWebDriver),
//! enough to read the settings window's DOM, click, type and take screenshots.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::rig::{Running, User, free_port, wait_for};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// tauri-driver and one session on it, launching `application` in `user`'s environment.
pub struct WebDriver {
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _driver: Running,
}

impl WebDriver {
    /// Starts tauri-driver and a session that launches `application`.
    pub fn launch(user: &User, application: &Path) -> Self {
        Self::launch_with(user, application, &[])
    }

    /// Like `launch`, with more environment for the app (`GTK_THEME`, say).
    pub fn launch_with(user: &User, application: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let native_port = free_port();
        // Its own process group: tauri-driver starts WebKitWebDriver, and both must go.
        let driver = Command::new("tauri-driver")
            .process_group(0)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
                "--native-driver",
                "/usr/bin/WebKitWebDriver",
            ])
            .envs(user.env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("tauri-driver is installed (make test installs it)");
        let driver = Running::adopt_group(driver);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        wait_for("tauri-driver to be ready", Duration::from_secs(20), || {
            let status: Value = http
                .get(format!("{base}/status"))
                .send()
                .ok()?
                .json()
                .ok()?;
            (status["value"]["ready"] == true).then_some(())
        });
        // tauri-driver answers before WebKitWebDriver listens: retry the session a few times.
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {"tauri:options": {
                "application": application.to_str().expect("utf-8 path"),
            }}}
        });
        let session = wait_for("a WebDriver session", Duration::from_secs(30), || {
            let reply: Value = http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .ok()?
                .json()
                .ok()?;
            reply["value"]["sessionId"].as_str().map(str::to_owned)
        });
        // The window shows once its page is drawn (or after its grace period); a user
        // clicks nothing before, and WebKit delivers no clicks to a hidden page.
        wait_for(
            "the settings window to show",
            Duration::from_secs(20),
            || (!crate::rig::windows_titled("Dyntray Settings").is_empty()).then_some(()),
        );
        Self {
            base,
            session,
            http,
            _driver: driver,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let reply: Value = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"));
        reply
    }

    fn get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    /// Runs `script` in the page as an async WebDriver script (its last argument is the
    /// callback) and returns what it passed back.
    pub fn execute_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({"script": script, "args": []}))["value"].clone()
    }

    /// Sets the window's size (its content, as the window manager allows).
    pub fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}));
    }

    /// The element matching `css`, if there is one now.
    pub fn find(&self, css: &str) -> Option<String> {
        let reply = self.post("/element", json!({"using": "css selector", "value": css}));
        reply["value"][ELEMENT_KEY].as_str().map(str::to_owned)
    }

    /// The rendered text of the element matching `css`, once it exists.
    pub fn text(&self, css: &str) -> String {
        let element = wait_for(&format!("element {css}"), Duration::from_secs(10), || {
            self.find(css)
        });
        self.get(&format!("/element/{element}/text"))["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks the element matching `css`, once it exists.
    pub fn click(&self, css: &str) {
        let element = wait_for(&format!("element {css}"), Duration::from_secs(10), || {
            self.find(css)
        });
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    /// Types `text` into the element matching `css` (after clearing it).
    pub fn type_into(&self, css: &str, text: &str) {
        let element = wait_for(&format!("element {css}"), Duration::from_secs(10), || {
            self.find(css)
        });
        self.post(&format!("/element/{element}/clear"), json!({}));
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    /// Chooses `value` in the select matching `css`, as picking it with the mouse would.
    pub fn choose(&self, css: &str, value: &str) {
        wait_for(&format!("element {css}"), Duration::from_secs(10), || {
            self.find(css)
        });
        let reply = self.post(
            "/execute/sync",
            json!({
                "script": "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
                           s.dispatchEvent(new Event('change')); return s.value;",
                "args": [css, value]
            }),
        );
        assert_eq!(reply["value"], value, "{css} has no option {value}");
    }

    /// Runs `script` asynchronously (it calls its last argument when done); its value.
    pub fn post_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({"script": script, "args": []}))["value"].clone()
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))["value"].clone()
    }

    /// Waits until the text of `css` satisfies `done`, and returns it.
    pub fn wait_text(&self, css: &str, done: impl Fn(&str) -> bool) -> String {
        wait_for(
            &format!("the text of {css}"),
            Duration::from_secs(15),
            || {
                let text = self.text(css);
                done(&text).then_some(text)
            },
        )
    }

    /// Saves a PNG of the window's page, once what the DOM holds has been painted.
    pub fn screenshot(&self, path: &Path) {
        // Two animation frames: the first runs before the next paint, the second after it.
        self.post(
            "/execute/async",
            json!({
                "script": "const done = arguments[0]; \
                           requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                "args": []
            }),
        );
        let reply = self.get("/screenshot");
        let data = reply["value"].as_str().expect("screenshot data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot is base64");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Closes the window (as the user closing it would) and ends the session.
    pub fn close_window(self) {
        let _ = self.http.delete(self.url("/window")).send();
        let _ = self.http.delete(self.url("")).send();
    }
}
