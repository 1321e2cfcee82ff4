//! A real browser for the web app's tests: Debian's headless Chromium,
//! driven over W3C WebDriver (ChromeDriver) with fantoccini. Each test
//! gets its own ChromeDriver and browser profile; both are killed when the
//! [`Browser`] is dropped, also when the test fails. Screenshots go under
//! the test build's temporary directory (`target/tmp/screenshots/`), not
//! into the repository.
//!
//! Without Chromium the browser tests skip loudly, unless `CI` is set
//! (`scripts/setup` installs it), in which case they fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where this test's screenshots go.
    shots: PathBuf,
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    /// A fresh browser, or `None` (a skip) when Chromium is not installed
    /// and CI does not require it. `test` names the screenshot folder.
    pub async fn start(test: &str) -> Option<Browser> {
        Self::start_with(test, &[]).await
    }

    /// [`Browser::start`] with more Chromium flags (a window size, a colour scheme).
    pub async fn start_with(test: &str, extra: &[&str]) -> Option<Browser> {
        Self::launch(test, extra, None).await
    }

    /// A phone: Chromium's mobile emulation at `width` CSS pixels (a
    /// headless window cannot be made narrower than 500).
    pub async fn phone(test: &str, width: u32) -> Option<Browser> {
        let metrics = json!({"deviceMetrics": {"width": width, "height": 780, "pixelRatio": 2.0}});
        Self::launch(test, &[], Some(metrics)).await
    }

    async fn launch(test: &str, extra: &[&str], mobile: Option<Value>) -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            if testkit::postgres_required() {
                panic!("chromium and chromedriver are required in CI (scripts/setup installs them)");
            }
            eprintln!("\n*** SKIPPING browser test: {CHROMIUM} or {CHROMEDRIVER} not found (run scripts/setup) ***\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        // Its own process group, so the browser it starts dies with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Background networking off: this machine has no internet, and a
        // page must not need it.
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--lang=en-US",
        ];
        if !extra.iter().any(|a| a.starts_with("--window-size")) {
            args.push("--window-size=1280,900");
        }
        args.extend_from_slice(extra);
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if let Some(mobile) = mobile {
            options["mobileEmulation"] = mobile;
        }
        let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session in Chromium");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots").join(test);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Some(Browser { client, driver, shots })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Save the page as `<name>.png` and return where.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Wait (up to `within`) until the text of `css` satisfies `ok`; the
    /// last text seen otherwise.
    pub async fn wait_text(&self, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ok(&text) {
                    return Ok(text);
                }
                last = text;
            }
            if Instant::now() > deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Type into a field and submit its form, as a person would.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"));
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The session cookie's value, if the browser holds one.
    pub async fn session_cookie(&self) -> Option<String> {
        let cookie = self.client.get_named_cookie("herald_session").await.ok()?;
        Some(cookie.value().to_string())
    }

    /// End the WebDriver session (the browser quits), then the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
