//! One download with Nix 2.8's `FileTransfer` behaviour, over plain HTTP
//! (ureq, no TLS) and `file://`.
//!
//! * Redirects are followed, at most 10.
//! * Only a response with status 200, 201, 204, 206 or 304 (or any
//!   `file://` read) delivers data; any other fails with
//!   `unable to download 'URL': HTTP error CODE ('REASON')`, followed by
//!   the response body when it is shorter than 1024 bytes or contains
//!   `<html>`.
//! * Failures without a status read like curl's:
//!   `unable to download 'URL': Couldn't connect to server (7)`.
//! * Failures are classified as Nix does ([`TransferErrorKind`]); transient
//!   ones are retried up to `download-attempts` times, after
//!   `base · 2^(attempt-1+U[0,0.5))` ms, with the warning
//!   `…; retrying in N ms` — but only while nothing has been written
//!   (Nix resumes with a range request instead; we do not).
//! * A `Content-Encoding` other than `none` makes the body decoded by
//!   content, as libarchive would.
//!
//! The reason phrase is the standard one for the status (ureq does not keep
//! the server's own text).

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher as _};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use super::decode::copy_decoded;
use crate::builtins::error::{BuiltinError, TransferErrorKind};
use crate::builtins::text::{NixText, chomp};
use crate::builtins::{FetchSettings, LogMessage, Logger};
use crate::wording::Wording;

/// curl's `MAXREDIRS` as Nix sets it.
const MAX_REDIRECTS: u32 = 10;
/// Statuses whose body is the download (0 is "not HTTP").
const SUCCESS: [u16; 5] = [200, 201, 204, 206, 304];
/// How much of an error response's body is kept for the message.
const ERROR_BODY_LIMIT: u64 = 1 << 20;

/// A curl result code and its `curl_easy_strerror` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Curl(pub u32, pub &'static str);

const UNSUPPORTED_PROTOCOL: Curl = Curl(1, "Unsupported protocol");
const URL_MALFORMAT: Curl = Curl(3, "URL using bad/illegal format or missing URL");
const COULDNT_RESOLVE_HOST: Curl = Curl(6, "Couldn't resolve host name");
const COULDNT_CONNECT: Curl = Curl(7, "Couldn't connect to server");
const WEIRD_SERVER_REPLY: Curl = Curl(8, "Weird server reply");
const PARTIAL_FILE: Curl = Curl(18, "Transferred a partial file");
const OPERATION_TIMEDOUT: Curl = Curl(28, "Timeout was reached");
const FILE_COULDNT_READ_FILE: Curl = Curl(37, "Couldn't read a file:// file");
const TOO_MANY_REDIRECTS: Curl = Curl(47, "Number of redirects hit maximum amount");
const GOT_NOTHING: Curl = Curl(52, "Server returned nothing (no headers, no data)");
const RECV_ERROR: Curl = Curl(56, "Failure when receiving data from the peer");

/// What to download.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub url: &'a str,
    /// Decode the data by content even without a `Content-Encoding`.
    pub decompress: bool,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// The transfer itself (Nix's `FileTransferError`).
    Transfer {
        /// The HTTP status and reason, if a response arrived.
        status: Option<(u16, &'static str)>,
        /// The curl code, unless the failure is just the status.
        curl: Option<Curl>,
        /// An error response's body.
        body: Option<Vec<u8>>,
    },
    /// Writing the data failed.
    Sink(io::Error),
    /// The data could not be decompressed.
    Decode(io::Error),
}

/// Downloads with one configuration (Nix's `FileTransfer`).
#[derive(Debug)]
pub(crate) struct Transfer {
    agent: ureq::Agent,
    tries: u32,
    base_retry: Duration,
    wording: Wording,
}

impl Transfer {
    pub(crate) fn new(settings: &FetchSettings, wording: Wording) -> Self {
        let mut user_agent = String::from("pkgchain Nix/2.8.0");
        if !settings.user_agent_suffix.is_empty() {
            user_agent.push(' ');
            user_agent.push_str(&settings.user_agent_suffix);
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(MAX_REDIRECTS)
            .max_redirects_will_error(false)
            .proxy(None)
            .user_agent(user_agent)
            .timeout_connect(settings.connect_timeout.filter(|d| !d.is_zero()))
            .timeout_per_read(Some(settings.stalled_timeout).filter(|d| !d.is_zero()))
            .build();
        Transfer {
            agent: config.new_agent(),
            tries: settings.tries.max(1),
            base_retry: settings.base_retry,
            wording,
        }
    }

    /// Downloads `req.url` into `sink`, retrying transient failures.
    pub(crate) fn download(
        &self,
        req: &Request<'_>,
        sink: &mut impl Write,
        log: &mut Logger<'_>,
    ) -> Result<(), BuiltinError> {
        let mut attempt = 0;
        loop {
            let mut counted = Counted {
                inner: &mut *sink,
                written: 0,
            };
            let failure = match self.attempt(req, &mut counted) {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            let (status, curl, body) = match failure {
                Failure::Transfer { status, curl, body } => (status, curl, body),
                Failure::Sink(e) => {
                    return Err(BuiltinError::sys(NixText::new().lit("writing to file"), e));
                }
                Failure::Decode(source) => {
                    return Err(BuiltinError::Decompress {
                        url: req.url.to_owned(),
                        source,
                    });
                }
            };
            attempt += 1;
            let kind = classify(status.map(|s| s.0), curl);
            let message = message(self.wording, req.url, status, curl, body.as_deref());
            if kind == TransferErrorKind::Transient && attempt < self.tries && counted.written == 0
            {
                let ms = self.retry_delay_ms(attempt);
                log.log(LogMessage::warn_with(
                    format!("{}; retrying in {ms} ms", message.what_plain()),
                    format!("{}; retrying in {ms} ms", message.what()),
                ));
                std::thread::sleep(Duration::from_millis(ms));
                continue;
            }
            return Err(BuiltinError::Download { kind, message });
        }
    }

    /// `baseRetryTimeMs · 2^(attempt - 1 + U[0, 0.5))`.
    fn retry_delay_ms(&self, attempt: u32) -> u64 {
        let random = RandomState::new().build_hasher().finish();
        let jitter = (random % 1_000_000) as f64 / 2_000_000.0;
        let factor = 2f64.powf(f64::from(attempt) - 1.0 + jitter);
        (self.base_retry.as_millis() as f64 * factor) as u64
    }

    fn attempt(
        &self,
        req: &Request<'_>,
        sink: &mut Counted<'_, impl Write>,
    ) -> Result<(), Failure> {
        let url = req.url;
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http") => self.http(req, sink),
            Some("file") => file(req, sink),
            Some(_) => Err(curl_failure(UNSUPPORTED_PROTOCOL)),
            None => Err(curl_failure(URL_MALFORMAT)),
        }
    }

    fn http(&self, req: &Request<'_>, sink: &mut Counted<'_, impl Write>) -> Result<(), Failure> {
        let response = self
            .agent
            .get(req.url)
            .call()
            .map_err(|e| curl_failure(call_error(e)))?;
        let code = response.status().as_u16();
        let reason = response.status().canonical_reason().unwrap_or("");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        };
        let encoding = header("content-encoding").unwrap_or_default();
        let location = header("location");
        let body = response.into_body().into_reader();

        if !SUCCESS.contains(&code) {
            let mut kept = Vec::new();
            // A body that cannot be read is just left out of the message.
            let _ = body.take(ERROR_BODY_LIMIT).read_to_end(&mut kept);
            // An unfollowed redirect: the limit was hit.
            let curl =
                ((300..400).contains(&code) && location.is_some()).then_some(TOO_MANY_REDIRECTS);
            return Err(Failure::Transfer {
                status: Some((code, reason)),
                curl,
                body: Some(kept),
            });
        }

        let decode = match encoding.as_str() {
            "" | "none" => req.decompress,
            "br" => {
                return Err(Failure::Decode(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the Content-Encoding 'br' is not supported by this daemon",
                )));
            }
            _ => true,
        };
        pump(body, decode, sink).map_err(|f| match f {
            Failure::Transfer { curl, .. } => Failure::Transfer {
                status: Some((code, reason)),
                curl,
                body: None,
            },
            other => other,
        })
    }
}

/// A `file://` URL, read like curl does (the host must be empty or
/// `localhost`; `%XX` escapes are decoded).
fn file(req: &Request<'_>, sink: &mut Counted<'_, impl Write>) -> Result<(), Failure> {
    let rest = &req.url["file://".len()..];
    let path = if rest.starts_with('/') {
        rest
    } else if let Some(p) = rest.strip_prefix("localhost") {
        p
    } else {
        return Err(curl_failure(FILE_COULDNT_READ_FILE));
    };
    let path = percent_decode(path.split(['?', '#']).next().unwrap_or(path));
    let path = std::path::PathBuf::from(<std::ffi::OsString as OsStringExt>::from_vec(path));
    let file = File::open(&path).map_err(|_| curl_failure(FILE_COULDNT_READ_FILE))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(true) {
        return Err(curl_failure(FILE_COULDNT_READ_FILE));
    }
    pump(file, req.decompress, sink).map_err(|f| match f {
        Failure::Transfer { .. } => curl_failure(FILE_COULDNT_READ_FILE),
        other => other,
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Copies the data, telling apart failures of the source, the sink and the
/// decoder.
fn pump(src: impl Read, decode: bool, sink: &mut Counted<'_, impl Write>) -> Result<(), Failure> {
    let mut source = Tracked {
        inner: src,
        failed: None,
    };
    let mut target = Tracked {
        inner: &mut *sink,
        failed: None,
    };
    let result = if decode {
        copy_decoded(&mut source, &mut target)
    } else {
        io::copy(&mut source, &mut target).map(drop)
    };
    let Err(e) = result else { return Ok(()) };
    if let Some(curl) = source.failed {
        return Err(curl_failure(curl));
    }
    if target.failed.is_some() {
        return Err(Failure::Sink(e));
    }
    Err(Failure::Decode(e))
}

fn curl_failure(curl: Curl) -> Failure {
    Failure::Transfer {
        status: None,
        curl: Some(curl),
        body: None,
    }
}

/// Counts the bytes that reached the sink.
struct Counted<'s, W> {
    inner: &'s mut W,
    written: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Remembers whether (and how, as curl would say) reading or writing failed.
struct Tracked<T> {
    inner: T,
    failed: Option<Curl>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(read_error(e));
            }
        })
    }
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write(buf)
            .inspect_err(|_| self.failed = Some(RECV_ERROR))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|_| self.failed = Some(RECV_ERROR))
    }
}

/// The curl code for an error reading a response body.
fn read_error(e: &io::Error) -> Curl {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    match inner {
        Some(ureq::Error::Timeout(_)) => OPERATION_TIMEDOUT,
        Some(ureq::Error::Protocol(_)) => WEIRD_SERVER_REPLY,
        Some(ureq::Error::Io(io)) => io_curl(io, PARTIAL_FILE),
        Some(_) => RECV_ERROR,
        None => io_curl(e, PARTIAL_FILE),
    }
}

fn io_curl(e: &io::Error, eof: Curl) -> Curl {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused | K::NetworkUnreachable | K::HostUnreachable | K::AddrNotAvailable => {
            COULDNT_CONNECT
        }
        K::TimedOut | K::WouldBlock => OPERATION_TIMEDOUT,
        K::UnexpectedEof => eof,
        _ => RECV_ERROR,
    }
}

/// The curl code for a request that produced no response.
fn call_error(e: ureq::Error) -> Curl {
    match e {
        ureq::Error::Io(io) => io_curl(&io, GOT_NOTHING),
        ureq::Error::Timeout(_) => OPERATION_TIMEDOUT,
        ureq::Error::HostNotFound => COULDNT_RESOLVE_HOST,
        ureq::Error::ConnectionFailed => COULDNT_CONNECT,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => URL_MALFORMAT,
        ureq::Error::Protocol(_) => WEIRD_SERVER_REPLY,
        ureq::Error::TooManyRedirects => TOO_MANY_REDIRECTS,
        // A redirect to https: there is no TLS here, as in a curl built
        // without it.
        ureq::Error::Tls(_) | ureq::Error::TlsRequired => UNSUPPORTED_PROTOCOL,
        _ => RECV_ERROR,
    }
}

/// Nix's classification of a failed transfer.
pub(crate) fn classify(status: Option<u16>, curl: Option<Curl>) -> TransferErrorKind {
    use TransferErrorKind as K;
    let status = status.unwrap_or(0);
    if status == 404 || status == 410 || curl == Some(FILE_COULDNT_READ_FILE) {
        return K::NotFound;
    }
    if matches!(status, 401 | 403 | 407) {
        return K::Forbidden;
    }
    if (400..500).contains(&status) && status != 408 && status != 429 {
        return K::Misc;
    }
    if matches!(status, 501 | 505 | 511) {
        return K::Misc;
    }
    // FAILED_INIT, URL_MALFORMAT, NOT_BUILT_IN, REMOTE_ACCESS_DENIED,
    // FUNCTION_NOT_FOUND, ABORTED_BY_CALLBACK, BAD_FUNCTION_ARGUMENT,
    // INTERFACE_FAILED, UNKNOWN_OPTION, SSL_CACERT_BADFILE,
    // TOO_MANY_REDIRECTS, WRITE_ERROR, UNSUPPORTED_PROTOCOL.
    match curl {
        Some(Curl(2 | 3 | 4 | 9 | 41 | 42 | 43 | 45 | 48 | 77 | 47 | 23 | 1, _)) => K::Misc,
        _ => K::Transient,
    }
}

/// `FileTransferError`'s message. Nix 2.8 builds it as one plain string
/// with the status's reason phrase; later releases (2.12 on) format it with
/// highlighted arguments and without the reason phrase.
pub(crate) fn message(
    wording: Wording,
    url: &str,
    status: Option<(u16, &str)>,
    curl: Option<Curl>,
    body: Option<&[u8]>,
) -> NixText {
    let plain = if wording == Wording::Nix2_8 {
        let mut text = format!("unable to download '{url}': ");
        match (status, curl) {
            (Some((code, reason)), curl) => {
                text.push_str(&format!("HTTP error {code} ('{reason}')"));
                if let Some(Curl(_, what)) = curl {
                    text.push_str(&format!(" (curl error: {what})"));
                }
            }
            (None, Some(Curl(code, what))) => text.push_str(&format!("{what} ({code})")),
            (None, None) => text.push_str("unknown error"),
        }
        NixText::plain_string(text)
    } else {
        let head = NixText::new()
            .lit("unable to ")
            .arg("download")
            .lit(" '")
            .arg(url)
            .lit("': ");
        match (status, curl) {
            (Some((code, _)), curl) => head.lit("HTTP error ").arg(code).arg(
                curl.map(|Curl(_, what)| format!(" (curl error: {what})"))
                    .unwrap_or_default(),
            ),
            // curl's own error buffer (the last argument) is not known
            // here; its place stays empty.
            (None, Some(Curl(code, what))) => head.arg(what).lit(" (").arg(code).lit(") ").arg(""),
            (None, None) => head.arg("unknown error"),
        }
    };
    match body.filter(|b| !b.is_empty()) {
        Some(b) if b.len() < 1024 || b.windows(6).any(|w| w == b"<html>") => {
            let body = String::from_utf8_lossy(b);
            plain
                .nested()
                .lit("\n\nresponse body:\n\n")
                .arg(chomp(&body))
        }
        _ => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_nix() {
        use TransferErrorKind as K;
        assert_eq!(classify(Some(404), None), K::NotFound);
        assert_eq!(classify(None, Some(FILE_COULDNT_READ_FILE)), K::NotFound);
        assert_eq!(classify(Some(403), None), K::Forbidden);
        assert_eq!(classify(Some(400), None), K::Misc);
        assert_eq!(classify(Some(429), None), K::Transient);
        assert_eq!(classify(Some(500), None), K::Transient);
        assert_eq!(classify(Some(501), None), K::Misc);
        assert_eq!(classify(None, Some(COULDNT_CONNECT)), K::Transient);
        assert_eq!(classify(None, Some(UNSUPPORTED_PROTOCOL)), K::Misc);
        assert_eq!(classify(Some(302), Some(TOO_MANY_REDIRECTS)), K::Misc);
    }

    #[test]
    fn messages_read_like_nix() {
        let m = message(
            Wording::Nix2_8,
            "http://h/x",
            Some((404, "Not Found")),
            None,
            Some(b"gone\n"),
        );
        assert_eq!(
            m.plain(),
            "unable to download 'http://h/x': HTTP error 404 ('Not Found')\n\nresponse body:\n\ngone"
        );
        let m = message(
            Wording::Nix2_8,
            "http://h/x",
            None,
            Some(COULDNT_CONNECT),
            None,
        );
        assert_eq!(
            m.what_plain(),
            "error: unable to download 'http://h/x': Couldn't connect to server (7)"
        );
        let long = vec![b'a'; 2000];
        let m = message(
            Wording::Nix2_8,
            "http://h/x",
            Some((500, "Internal Server Error")),
            None,
            Some(&long),
        );
        assert!(!m.plain().contains("response body"));
        assert_eq!(percent_decode("/a%20b%zz"), b"/a b%zz");
    }

    #[test]
    fn newer_messages_drop_the_reason_and_carry_the_write_trace() {
        let m = message(
            Wording::Nix2_26,
            "http://h/x",
            Some((404, "Not Found")),
            None,
            Some(b"gone\n"),
        );
        assert_eq!(
            m.plain(),
            "unable to download 'http://h/x': HTTP error 404\n\nresponse body:\n\ngone"
        );
        let trace = NixText::new()
            .lit("writing file '")
            .arg("/nix/store/x")
            .lit("'");
        let logged = m.what_traced(&trace);
        assert_eq!(
            logged,
            "\x1b[31;1merror:\x1b[0m\n       … writing file '\x1b[35;1m/nix/store/x\x1b[0m'\n\n       \x1b[31;1merror:\x1b[0m \x1b[0munable to \x1b[35;1mdownload\x1b[0m '\x1b[35;1mhttp://h/x\x1b[0m': HTTP error \x1b[35;1m404\x1b[0m\x1b[35;1m\x1b[0m\n\n       response body:\n\n       \x1b[35;1mgone\x1b[0m"
        );
    }
}
