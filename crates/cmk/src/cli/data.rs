//! `cmk cognitiveservices data put|get|list|show|delete`: an account's content, at the account's endpoint, with a
//! bearer token for the cognitive-services audience.
//!
//! Transfers stream: an upload reads its source 1 MiB at a time into the request body, a download writes each
//! piece of the answer as it arrives, so no object is ever held in memory whole. A progress bar on stderr shows
//! bytes, rate and time left when stderr is a terminal (or with `--progress`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use super::cognitive::{AccountRef, get_account};
use super::error::CliError;
use super::session::{Session, answer, server_error, unreachable};

/// Size of the pieces an upload is read and sent in.
const PIECE: usize = 1 << 20;

/// Whether a progress bar is drawn on stderr.
#[derive(Args, Debug, Clone, Default)]
pub struct ProgressArgs {
    /// Show a progress bar on stderr even when it is not a terminal.
    #[arg(long, conflicts_with = "no_progress")]
    pub progress: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// The account whose content a command works on.
#[derive(Args, Debug, Clone)]
pub struct ContentAccount {
    /// Name of the account.
    #[arg(long, visible_alias = "account-name", value_name = "ACCOUNT")]
    account: String,
    /// Resource group of the account [default: the login's].
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Upload an object from a file or from stdin; an object of the same name is replaced.
    #[command(
        after_help = "Examples:\n  cmk cognitiveservices data put --account contoso-text --name docs/report.pdf --file report.pdf\n  tar c notes | cmk cognitiveservices data put --account contoso-text --name backups/notes.tar --content-type application/x-tar"
    )]
    Put {
        #[command(flatten)]
        account: ContentAccount,
        /// Name of the object; it may contain '/'.
        #[arg(long, short = 'n')]
        name: String,
        /// The file to upload; '-' or none reads stdin.
        #[arg(long, short = 'f', value_name = "PATH")]
        file: Option<PathBuf>,
        /// Content type stored with the object [default: from the file's extension, else application/octet-stream].
        #[arg(long, value_name = "TYPE")]
        content_type: Option<String>,
        #[command(flatten)]
        progress: ProgressArgs,
    },
    /// Download an object to a file or to stdout.
    #[command(
        after_help = "Examples:\n  cmk cognitiveservices data get --account contoso-text --name docs/report.pdf --file report.pdf\n  cmk cognitiveservices data get --account contoso-text --name notes.txt | less"
    )]
    Get {
        #[command(flatten)]
        account: ContentAccount,
        /// Name of the object.
        #[arg(long, short = 'n')]
        name: String,
        /// The file to write (replaced only once the download is complete); '-' or none writes stdout.
        #[arg(long, short = 'f', value_name = "PATH")]
        file: Option<PathBuf>,
        #[command(flatten)]
        progress: ProgressArgs,
    },
    /// List the objects of an account, in name order.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices data list --account contoso-text --prefix docs/ --output table"
    )]
    List {
        #[command(flatten)]
        account: ContentAccount,
        /// Only the objects whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Show an object's size, content type, etag and modification time.
    #[command(after_help = "Example:\n  cmk cognitiveservices data show --account contoso-text --name docs/report.pdf")]
    Show {
        #[command(flatten)]
        account: ContentAccount,
        /// Name of the object.
        #[arg(long, short = 'n')]
        name: String,
    },
    /// Delete an object.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices data delete --account contoso-text --name docs/report.pdf"
    )]
    Delete {
        #[command(flatten)]
        account: ContentAccount,
        /// Name of the object.
        #[arg(long, short = 'n')]
        name: String,
    },
}

// ---- progress ----------------------------------------------------------------------------------------------

/// stderr as a terminal, for `--progress` when stderr is not one: the bar is redrawn with ANSI sequences.
#[derive(Debug)]
struct StderrTerm;

impl StderrTerm {
    fn write(text: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        std::io::stderr().write_all(text.as_bytes())
    }
}

impl TermLike for StderrTerm {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|c| *c > 20)
            .unwrap_or(100)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            Self::write(&format!("\x1b[{n}A"))
        }
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            Self::write(&format!("\x1b[{n}B"))
        }
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            Self::write(&format!("\x1b[{n}C"))
        }
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            Self::write(&format!("\x1b[{n}D"))
        }
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        Self::write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        Self::write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Self::write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        std::io::stderr().flush()
    }
}

/// A progress bar on stderr, or a hidden one.
pub(super) struct Bar {
    bar: ProgressBar,
    /// Drawn on a stderr that is not a terminal, which does not wrap after the last line: end it ourselves.
    plain: bool,
}

impl std::ops::Deref for Bar {
    type Target = ProgressBar;

    fn deref(&self) -> &ProgressBar {
        &self.bar
    }
}

impl Bar {
    fn new(args: &ProgressArgs, len: Option<u64>, template: &str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (target, plain) = if args.no_progress || !(terminal || args.progress) {
            (ProgressDrawTarget::hidden(), false)
        } else if terminal {
            (ProgressDrawTarget::stderr(), false)
        } else {
            (ProgressDrawTarget::term_like_with_hz(Box::new(StderrTerm), 4), true)
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Bar {
            bar: ProgressBar::with_draw_target(len, target).with_style(style),
            plain,
        }
    }

    /// Leaves the bar showing its final state.
    pub(super) fn finish(&self) {
        self.bar.finish();
        self.end_line();
    }

    /// Leaves the bar where it stopped.
    pub(super) fn abandon(&self) {
        self.bar.abandon();
        self.end_line();
    }

    fn end_line(&self) {
        if self.plain {
            eprintln!();
        }
    }
}

/// A bar for a transfer of `len` bytes (a counter when the length is unknown).
fn transfer_bar(args: &ProgressArgs, len: Option<u64>, label: &str) -> Bar {
    let template = match len {
        Some(_) => "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        None => "{msg} {spinner} {bytes} {binary_bytes_per_sec} {elapsed}",
    };
    let bar = Bar::new(args, len, template);
    bar.set_message(label.to_owned());
    bar
}

/// A bar counting objects, for re-encryption.
pub(super) fn object_bar(args: &ProgressArgs, total: u64) -> Bar {
    let bar = Bar::new(
        args,
        Some(total),
        "re-encrypting [{wide_bar}] {pos}/{len} objects ETA {eta}",
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    bar
}

// ---- addresses ---------------------------------------------------------------------------------------------

/// The account's endpoint (`https://{subdomain}.cognitiveservices.{host}/`), from its properties.
async fn endpoint(session: &Session, account: &ContentAccount) -> Result<String, CliError> {
    let reference = AccountRef {
        name: account.account.clone(),
        resource_group: account.resource_group.clone(),
    };
    let found = get_account(session, &reference).await?;
    let endpoint = found["properties"]["endpoint"]
        .as_str()
        .ok_or_else(|| CliError::Local(format!("the account '{}' has no endpoint", account.account)))?;
    Ok(format!("{}/", endpoint.trim_end_matches('/')))
}

/// An object name as a URL path: every byte but letters, digits, `-_.~` and `/` percent-encoded.
fn encode_name(name: &str) -> Result<String, CliError> {
    if name.is_empty() {
        return Err(CliError::Usage(
            "argument --name: an object name cannot be empty".into(),
        ));
    }
    if name.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(CliError::Usage(format!(
            "argument --name: '{name}' has a '.' or '..' segment, which no URL can carry"
        )));
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn object_url(endpoint: &str, name: &str) -> Result<String, CliError> {
    Ok(format!("{endpoint}content/{}", encode_name(name)?))
}

/// A content type for a file name, by its extension.
fn guess_content_type(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "yaml" | "yml" => "application/yaml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "parquet" => "application/vnd.apache.parquet",
        _ => return None,
    })
}

/// The named file, or `None` for stdin (`-` or nothing).
fn file_or_std(file: Option<PathBuf>) -> Option<PathBuf> {
    file.filter(|f| f.as_os_str() != "-")
}

// ---- transfers ---------------------------------------------------------------------------------------------

type Source = Box<dyn AsyncRead + Send + Unpin>;

/// The upload's source and its length, when known.
async fn open_source(file: Option<&Path>) -> Result<(Source, Option<u64>), CliError> {
    if let Some(path) = file {
        let opened = tokio::fs::File::open(path)
            .await
            .map_err(|e| CliError::local(&format!("reading {}", path.display()), e))?;
        let metadata = opened
            .metadata()
            .await
            .map_err(|e| CliError::local(&format!("reading {}", path.display()), e))?;
        if metadata.is_dir() {
            return Err(CliError::Usage(format!(
                "argument --file: {} is a directory",
                path.display()
            )));
        }
        return Ok(if metadata.is_file() {
            // Exactly the announced length is sent, even if the file grows meanwhile.
            (Box::new(opened.take(metadata.len())), Some(metadata.len()))
        } else {
            (Box::new(opened), None)
        });
    }
    use std::io::Seek as _;
    let mut file = standard_stream(Standard::Input)?;
    // Redirected from a file (`< file`): its length is known.
    if let (Ok(metadata), Ok(position)) = (file.metadata(), file.stream_position())
        && metadata.is_file()
    {
        let len = metadata.len().saturating_sub(position);
        return Ok((Box::new(tokio::fs::File::from_std(file).take(len)), Some(len)));
    }
    Ok((Box::new(tokio::fs::File::from_std(file)), None))
}

#[derive(Clone, Copy)]
enum Standard {
    Input,
    Output,
}

/// stdin or stdout as a file of its own (a duplicate of the descriptor), for reading and writing without
/// blocking the runtime.
fn standard_stream(which: Standard) -> Result<std::fs::File, CliError> {
    let (label, duplicated) = match which {
        Standard::Input => ("stdin", duplicate(&std::io::stdin())),
        Standard::Output => ("stdout", duplicate(&std::io::stdout())),
    };
    duplicated.map_err(|e| CliError::local(&format!("opening {label}"), e))
}

#[cfg(unix)]
fn duplicate(stream: &impl std::os::fd::AsFd) -> std::io::Result<std::fs::File> {
    Ok(std::fs::File::from(stream.as_fd().try_clone_to_owned()?))
}

#[cfg(windows)]
fn duplicate(stream: &impl std::os::windows::io::AsHandle) -> std::io::Result<std::fs::File> {
    Ok(std::fs::File::from(stream.as_handle().try_clone_to_owned()?))
}

/// Reads up to one piece; an empty answer is the end.
async fn read_piece(source: &mut Source) -> std::io::Result<Vec<u8>> {
    let mut piece = vec![0u8; PIECE];
    let mut filled = 0;
    while filled < PIECE {
        match source.read(&mut piece[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    piece.truncate(filled);
    Ok(piece)
}

/// Where a failure to read the upload's source is kept, to tell it from a failure of the connection.
type ReadFailure = std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>;

/// The source as a request body of 1 MiB pieces, counted on `bar` as they are handed over.
fn streaming_body(source: Source, bar: ProgressBar, failed: ReadFailure) -> reqwest::Body {
    let stream = futures_util::stream::unfold(Some(source), move |state| {
        let (bar, failed) = (bar.clone(), failed.clone());
        async move {
            let mut source = state?;
            match read_piece(&mut source).await {
                Ok(piece) if piece.is_empty() => None,
                Ok(piece) => {
                    bar.inc(piece.len() as u64);
                    Some((Ok(Bytes::from(piece)), Some(source)))
                }
                Err(e) => {
                    let told = std::io::Error::new(e.kind(), e.to_string());
                    if let Ok(mut slot) = failed.lock() {
                        *slot = Some(e);
                    }
                    Some((Err(told), None))
                }
            }
        }
    });
    reqwest::Body::wrap_stream(stream)
}

async fn failure(response: reqwest::Response) -> CliError {
    let status = response.status();
    match answer(response).await {
        Err(error) => error,
        Ok(body) => server_error(status, &body),
    }
}

async fn put(
    session: &Session,
    account: &ContentAccount,
    name: &str,
    file: Option<PathBuf>,
    content_type: Option<String>,
    progress: &ProgressArgs,
) -> Result<Value, CliError> {
    let file = file_or_std(file);
    if file.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "give the content with --file PATH, or pipe it into stdin".into(),
        ));
    }
    let url = object_url(&endpoint(session, account).await?, name)?;
    let content_type = content_type
        .or_else(|| file.as_deref().and_then(guess_content_type).map(str::to_owned))
        .unwrap_or_else(|| "application/octet-stream".into());
    let (source, len) = open_source(file.as_deref()).await?;
    // A streamed body cannot be sent twice: make sure of the token first, with a request that can be.
    let resource = session.cognitive_services_resource();
    let probe = match url.rsplit_once("/content/") {
        Some((base, _)) => format!("{base}/content?top=1"),
        None => url.clone(),
    };
    session
        .send(&resource, &probe, |token| session.http.get(&probe).bearer_auth(token))
        .await?;
    let token = session.token(&resource).await?;
    let bar = transfer_bar(progress, len, &format!("uploading {name}"));
    let mut request = session
        .http
        .put(&url)
        .bearer_auth(token)
        .header(CONTENT_TYPE, content_type);
    if let Some(len) = len {
        request = request.header(CONTENT_LENGTH, len);
    }
    let failed = ReadFailure::default();
    let sent = request
        .body(streaming_body(source, ProgressBar::clone(&bar), failed.clone()))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            bar.abandon();
            let read_error = failed.lock().ok().and_then(|mut slot| slot.take());
            return Err(match read_error {
                Some(read_error) => {
                    let source = file.as_deref().map_or("stdin".into(), |f| f.display().to_string());
                    CliError::local(&format!("reading {source}"), read_error)
                }
                None => unreachable(&url, &e),
            });
        }
    };
    if !response.status().is_success() {
        bar.abandon();
        return Err(failure(response).await);
    }
    bar.finish();
    answer(response).await
}

/// Where a download goes: a file written beside its destination and renamed over it once complete, or stdout.
struct Sink {
    out: tokio::fs::File,
    /// The partial file and its destination; none for stdout.
    rename: Option<(PathBuf, PathBuf)>,
}

impl Sink {
    async fn open(file: Option<PathBuf>) -> Result<Self, CliError> {
        let Some(destination) = file else {
            return Ok(Sink {
                out: tokio::fs::File::from_std(standard_stream(Standard::Output)?),
                rename: None,
            });
        };
        let file_name = destination
            .file_name()
            .ok_or_else(|| CliError::Usage(format!("argument --file: {} names no file", destination.display())))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(file_name);
        partial_name.push(format!(".{}.partial", std::process::id()));
        let partial = destination.with_file_name(partial_name);
        let out = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| CliError::local(&format!("writing {}", destination.display()), e))?;
        Ok(Sink {
            out,
            rename: Some((partial, destination)),
        })
    }

    fn label(&self) -> String {
        match &self.rename {
            Some((_, destination)) => destination.display().to_string(),
            None => "stdout".into(),
        }
    }

    async fn write(&mut self, piece: &[u8]) -> Result<(), CliError> {
        match self.out.write_all(piece).await {
            Ok(()) => Ok(()),
            Err(e) => Err(CliError::local(&format!("writing {}", self.label()), e)),
        }
    }

    async fn finish(mut self) -> Result<(), CliError> {
        let label = self.label();
        let mut done = self.out.flush().await;
        if let Some((partial, destination)) = &self.rename {
            done = match done {
                Ok(()) => self.out.sync_all().await,
                Err(e) => Err(e),
            };
            done = match done {
                Ok(()) => tokio::fs::rename(partial, destination).await,
                Err(e) => Err(e),
            };
            if done.is_err() {
                let _ = tokio::fs::remove_file(partial).await;
            }
        }
        done.map_err(|e| CliError::local(&format!("writing {label}"), e))
    }

    async fn discard(mut self) {
        let _ = self.out.flush().await;
        if let Some((partial, _)) = &self.rename {
            let _ = tokio::fs::remove_file(partial).await;
        }
    }
}

fn header_length(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn get(
    session: &Session,
    account: &ContentAccount,
    name: &str,
    file: Option<PathBuf>,
    progress: &ProgressArgs,
) -> Result<(), CliError> {
    let url = object_url(&endpoint(session, account).await?, name)?;
    let resource = session.cognitive_services_resource();
    let mut response = session
        .send(&resource, &url, |token| session.http.get(&url).bearer_auth(token))
        .await?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    let expected = header_length(&response);
    let mut sink = Sink::open(file_or_std(file)).await?;
    let bar = transfer_bar(progress, expected, &format!("downloading {name}"));
    let mut received: u64 = 0;
    let copied: Result<(), CliError> = async {
        while let Some(piece) = response.chunk().await.map_err(|e| {
            CliError::Local(format!(
                "the download of '{name}' broke off after {received} bytes: {}",
                unreachable(&url, &e).to_string().trim_start_matches("ERROR: ")
            ))
        })? {
            sink.write(&piece).await?;
            received += piece.len() as u64;
            bar.set_position(received);
        }
        match expected {
            Some(expected) if expected != received => Err(CliError::Local(format!(
                "the download of '{name}' ended after {received} of {expected} bytes"
            ))),
            _ => Ok(()),
        }
    }
    .await;
    match copied {
        Ok(()) => {
            sink.finish().await?;
            bar.finish();
            Ok(())
        }
        Err(e) => {
            bar.abandon();
            sink.discard().await;
            Err(e)
        }
    }
}

async fn list(session: &Session, account: &ContentAccount, prefix: Option<String>) -> Result<Value, CliError> {
    let base = endpoint(session, account).await?;
    let mut url = Url::parse(&format!("{base}content"))
        .map_err(|e| CliError::Local(format!("the account's endpoint '{base}' is not a URL: {e}")))?;
    if let Some(prefix) = prefix {
        url.query_pairs_mut().append_pair("prefix", &prefix);
    }
    let resource = session.cognitive_services_resource();
    let mut items = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(page_url) = next.take() {
        let mut page = session.call(Method::GET, &page_url, &resource, None).await?;
        if let Some(values) = page["value"].as_array_mut() {
            items.append(values);
        }
        next = page["nextLink"].as_str().map(str::to_owned);
    }
    Ok(Value::Array(items))
}

async fn show(session: &Session, account: &ContentAccount, name: &str) -> Result<Value, CliError> {
    let url = object_url(&endpoint(session, account).await?, name)?;
    let resource = session.cognitive_services_resource();
    let response = session
        .send(&resource, &url, |token| session.http.head(&url).bearer_auth(token))
        .await?;
    let status = response.status();
    if !status.is_success() {
        // A HEAD answer has no body to tell the error: a GET, refused the same way, tells it.
        let token = session.token(&session.cognitive_services_resource()).await?;
        return Err(match session.http.get(&url).bearer_auth(token).send().await {
            Ok(again) if !again.status().is_success() => failure(again).await,
            _ => server_error(status, &Value::Null),
        });
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(json!({
        "name": name,
        "size": header_length(&response),
        "contentType": header(CONTENT_TYPE),
        "etag": header(ETAG),
        "lastModified": header(LAST_MODIFIED),
    }))
}

pub async fn run(command: DataCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        DataCommand::Put {
            account,
            name,
            file,
            content_type,
            progress,
        } => Some(put(session, &account, &name, file, content_type, &progress).await?),
        DataCommand::Get {
            account,
            name,
            file,
            progress,
        } => {
            get(session, &account, &name, file, &progress).await?;
            None
        }
        DataCommand::List { account, prefix } => Some(list(session, &account, prefix).await?),
        DataCommand::Show { account, name } => Some(show(session, &account, &name).await?),
        DataCommand::Delete { account, name } => {
            let url = object_url(&endpoint(session, &account).await?, &name)?;
            let resource = session.cognitive_services_resource();
            session.call(Method::DELETE, &url, &resource, None).await?;
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_but_keep_their_slashes() {
        assert_eq!(encode_name("docs/a b+c.txt").unwrap_or_default(), "docs/a%20b%2Bc.txt");
        assert_eq!(encode_name("é~_-").unwrap_or_default(), "%C3%A9~_-");
        assert!(matches!(encode_name("a/../b"), Err(CliError::Usage(_))));
        assert!(matches!(encode_name(""), Err(CliError::Usage(_))));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(guess_content_type(Path::new("a/b.JSON")), Some("application/json"));
        assert_eq!(guess_content_type(Path::new("blob")), None);
    }
}
