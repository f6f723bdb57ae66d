//! Parsers for option values: temperature lists, prompt ranges, stop strings,
//! grading modes and server URLs.

use heatmap_proto::{GradeMode, QuestionRange};

/// Ollama's address when `OLLAMA_HOST` is unset, as the Ollama CLI uses it.
pub const OLLAMA_DEFAULT_URL: &str = "http://127.0.0.1:11434";

/// Port of an Ollama server when `OLLAMA_HOST` names none and has no scheme.
const OLLAMA_DEFAULT_PORT: u16 = 11434;

/// A list of temperatures from `--temps`, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Temperatures(pub Vec<f64>);

/// Parses a comma-separated list of temperatures such as `0,0.5,1`.
///
/// Rejects empty entries, values that are not finite decimals, negative
/// values and duplicates. Values are compared after rounding to 6 decimal
/// places, the precision the daemon keeps.
pub fn parse_temperatures(text: &str) -> Result<Temperatures, String> {
    let mut temperatures: Vec<f64> = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(format!(
                "empty entry in temperature list {text:?}; write e.g. 0,0.5,1"
            ));
        }
        let value: f64 = entry.parse().map_err(|_| {
            format!("invalid temperature {entry:?}: expected a decimal such as 0.7")
        })?;
        if !value.is_finite() {
            return Err(format!(
                "invalid temperature {entry:?}: must be a finite number"
            ));
        }
        if value < 0.0 {
            return Err(format!("invalid temperature {entry}: must not be negative"));
        }
        let value = round6(value);
        if temperatures.contains(&value) {
            return Err(format!(
                "temperature {} is listed twice",
                format_temperature(value)
            ));
        }
        temperatures.push(value);
    }
    Ok(Temperatures(temperatures))
}

/// Rounds to 6 decimal places and turns `-0` into `0`.
fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6 + 0.0
}

/// Formats a temperature in its shortest decimal form: `0.5`, `1`, `0.05`.
pub fn format_temperature(value: f64) -> String {
    format!("{}", round6(value))
}

/// Parses a 1-based inclusive prompt range: `5..40`, `5..` (to the last prompt) or `7` (one prompt).
pub fn parse_question_range(text: &str) -> Result<QuestionRange, String> {
    let text = text.trim();
    let (start, end) = match text.split_once("..") {
        Some((start, end)) => (start, Some(end)),
        None => (text, None),
    };
    let start = parse_prompt_number(start, text)?;
    let end = match end {
        None => Some(start),
        Some("") => None,
        Some(end) => Some(parse_prompt_number(end, text)?),
    };
    if let Some(end) = end
        && end < start
    {
        return Err(format!(
            "invalid range {text:?}: end {end} is before start {start}"
        ));
    }
    Ok(QuestionRange { start, end })
}

fn parse_prompt_number(number: &str, range: &str) -> Result<u32, String> {
    let value: u32 = number.trim().parse().map_err(|_| {
        format!(
            "invalid range {range:?}: expected START..END or START.. with whole numbers, e.g. 5..40"
        )
    })?;
    if value == 0 {
        return Err(format!(
            "invalid range {range:?}: prompts are numbered from 1"
        ));
    }
    Ok(value)
}

/// Parses a stop string, turning the escapes `\n`, `\t` and `\\` into the characters they name.
///
/// Any other backslash sequence is rejected, so a typo never becomes a
/// stop string that silently never matches.
pub fn parse_stop(text: &str) -> Result<String, String> {
    let mut stop = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            stop.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => stop.push('\n'),
            Some('t') => stop.push('\t'),
            Some('\\') => stop.push('\\'),
            Some(other) => {
                return Err(format!(
                    "unknown escape \\{other} in stop string {text:?}; use \\n, \\t or \\\\"
                ));
            }
            None => {
                return Err(format!(
                    "stop string {text:?} ends with a lone backslash; write \\\\ for a backslash"
                ));
            }
        }
    }
    if stop.is_empty() {
        return Err("stop string is empty".to_string());
    }
    Ok(stop)
}

/// Parses `none`, `exact`, `contains` or `judge:MODEL`.
pub fn parse_grade(text: &str) -> Result<GradeMode, String> {
    match text {
        "none" => Ok(GradeMode::None),
        "exact" => Ok(GradeMode::Exact),
        "contains" => Ok(GradeMode::Contains),
        "judge" | "judge:" => Err("judge grading needs a model: --grade judge:MODEL".to_string()),
        _ => match text.strip_prefix("judge:") {
            Some(model) => Ok(GradeMode::Judge {
                model: model.to_string(),
            }),
            None => Err(format!(
                "invalid grading mode {text:?}: expected none, exact, contains or judge:MODEL"
            )),
        },
    }
}

/// Turns the value of `OLLAMA_HOST` into a base URL, as Ollama's own
/// client reads it (`envconfig` in the Ollama source).
///
/// Unset or empty gives [`OLLAMA_DEFAULT_URL`]. Surrounding quotes are
/// dropped. Without a scheme, `http://` is added and the port defaults to
/// 11434, so `myhost` becomes `http://myhost:11434` and `:8080` becomes
/// `http://127.0.0.1:8080`. With a scheme and no port, the scheme's port
/// applies. The listen-on-all addresses `0.0.0.0` and `::` become loopback,
/// because a client cannot connect to them on every platform. A URL with a
/// path, as behind a reverse proxy, is kept as written.
pub fn ollama_url(ollama_host: Option<&str>) -> Result<String, String> {
    let value = ollama_host
        .unwrap_or_default()
        .trim()
        .trim_matches(['"', '\''])
        .trim();
    if value.is_empty() {
        return Ok(OLLAMA_DEFAULT_URL.to_string());
    }
    let (scheme, address) = match value.split_once("://") {
        Some((scheme, address)) => (Some(scheme), address.trim_end_matches('/')),
        None => (None, value.trim_end_matches('/')),
    };
    if scheme.is_some() && address.contains('/') {
        return Ok(value.trim_end_matches('/').to_string());
    }

    let (host, port) = split_host_port(address);
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" | "::" => "[::1]",
        other => other,
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = match port {
        Some(port) => match port.parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => {
                return Err(format!(
                    "invalid port {port:?} in OLLAMA_HOST={value:?}; set it like 127.0.0.1:11434, or pass --url"
                ));
            }
        },
        None if scheme.is_none() => Some(OLLAMA_DEFAULT_PORT),
        None => None,
    };
    let scheme = scheme.unwrap_or("http");
    Ok(match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Splits `host:port`, `[v6]:port`, `host`, `[v6]` or a bare IPv6 address into the host and its port, if any.
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if text.starts_with('[') {
        return match text.rsplit_once("]:") {
            Some((host, port)) => (&text[..host.len() + 1], Some(port)),
            None => (text, None),
        };
    }
    // A bare IPv6 address has several colons and no port.
    if text.matches(':').count() > 1 {
        return (text, None);
    }
    match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    }
}

/// Normalises a `--url` value: adds `http://` when no scheme is given and
/// drops a trailing slash. For OpenAI-compatible servers a trailing `/v1` is
/// dropped too, because the daemon appends `/v1/...` to the base URL itself.
pub fn server_url(url: &str, openai: bool) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("empty --url; give a base URL such as http://127.0.0.1:8080".to_string());
    }
    let mut url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    while url.ends_with('/') {
        url.pop();
    }
    if openai && let Some(base) = url.strip_suffix("/v1") {
        url = base.to_string();
    }
    let scheme = url.split("://").next().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "invalid --url {url:?}: the scheme must be http or https"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures_parse_in_order() {
        let temps = parse_temperatures("0, 0.5,1,0.05").unwrap();
        assert_eq!(temps.0, vec![0.0, 0.5, 1.0, 0.05]);
    }

    #[test]
    fn temperatures_reject_bad_values() {
        let cases = [
            ("0,-0.5", "-0.5"),
            ("0,NaN", "NaN"),
            ("inf", "inf"),
            ("0,abc", "abc"),
            ("0,,1", "empty entry"),
            ("", "empty entry"),
        ];
        for (input, named) in cases {
            let error = parse_temperatures(input).unwrap_err();
            assert!(error.contains(named), "{input:?} gave {error:?}");
        }
    }

    #[test]
    fn temperatures_reject_duplicates() {
        let error = parse_temperatures("0,0.5,0.50").unwrap_err();
        assert_eq!(error, "temperature 0.5 is listed twice");
        let error = parse_temperatures("0.1,0.1000000001").unwrap_err();
        assert!(error.contains("0.1"), "{error}");
    }

    #[test]
    fn negative_zero_is_zero() {
        let temps = parse_temperatures("-0").unwrap();
        assert_eq!(format_temperature(temps.0[0]), "0");
    }

    #[test]
    fn temperature_shortest_form() {
        assert_eq!(format_temperature(0.5), "0.5");
        assert_eq!(format_temperature(1.0), "1");
        assert_eq!(format_temperature(0.05), "0.05");
        assert_eq!(format_temperature(0.1 + 0.2), "0.3");
        assert_eq!(format_temperature(1.25), "1.25");
    }

    #[test]
    fn question_ranges() {
        assert_eq!(
            parse_question_range("5..40").unwrap(),
            QuestionRange {
                start: 5,
                end: Some(40)
            }
        );
        assert_eq!(
            parse_question_range("5..").unwrap(),
            QuestionRange {
                start: 5,
                end: None
            }
        );
        assert_eq!(
            parse_question_range("7").unwrap(),
            QuestionRange {
                start: 7,
                end: Some(7)
            }
        );
        assert_eq!(
            parse_question_range("3..3").unwrap(),
            QuestionRange {
                start: 3,
                end: Some(3)
            }
        );
    }

    #[test]
    fn question_ranges_rejected() {
        assert!(
            parse_question_range("0..4")
                .unwrap_err()
                .contains("numbered from 1")
        );
        assert!(
            parse_question_range("9..4")
                .unwrap_err()
                .contains("end 4 is before start 9")
        );
        assert!(
            parse_question_range("..4")
                .unwrap_err()
                .contains("START..END")
        );
        assert!(
            parse_question_range("a..b")
                .unwrap_err()
                .contains("START..END")
        );
        assert!(
            parse_question_range("-1..4")
                .unwrap_err()
                .contains("START..END")
        );
        assert!(
            parse_question_range("1..4..5")
                .unwrap_err()
                .contains("START..END")
        );
    }

    #[test]
    fn stop_escapes() {
        assert_eq!(parse_stop(r"\n").unwrap(), "\n");
        assert_eq!(parse_stop(r"a\tb").unwrap(), "a\tb");
        assert_eq!(parse_stop(r"\\n").unwrap(), "\\n");
        assert_eq!(parse_stop("</s>").unwrap(), "</s>");
        assert_eq!(parse_stop(r"\n\nQ:").unwrap(), "\n\nQ:");
    }

    #[test]
    fn stop_escapes_rejected() {
        assert!(
            parse_stop(r"\x")
                .unwrap_err()
                .contains(r"unknown escape \x")
        );
        assert!(parse_stop(r"abc\").unwrap_err().contains("lone backslash"));
        assert!(parse_stop("").unwrap_err().contains("empty"));
    }

    #[test]
    fn grade_modes() {
        assert_eq!(parse_grade("none").unwrap(), GradeMode::None);
        assert_eq!(parse_grade("exact").unwrap(), GradeMode::Exact);
        assert_eq!(parse_grade("contains").unwrap(), GradeMode::Contains);
        assert_eq!(
            parse_grade("judge:qwen3:8b").unwrap(),
            GradeMode::Judge {
                model: "qwen3:8b".into()
            }
        );
        assert!(parse_grade("judge").unwrap_err().contains("judge:MODEL"));
        assert!(parse_grade("judge:").unwrap_err().contains("judge:MODEL"));
        assert!(parse_grade("fuzzy").unwrap_err().contains("\"fuzzy\""));
    }

    #[test]
    fn ollama_host_forms() {
        let cases = [
            (None, "http://127.0.0.1:11434"),
            (Some(""), "http://127.0.0.1:11434"),
            (Some("127.0.0.1"), "http://127.0.0.1:11434"),
            (Some("127.0.0.1:8080"), "http://127.0.0.1:8080"),
            (Some("\"127.0.0.1:8080\""), "http://127.0.0.1:8080"),
            (Some(":8080"), "http://127.0.0.1:8080"),
            (Some("localhost"), "http://localhost:11434"),
            (Some("0.0.0.0"), "http://127.0.0.1:11434"),
            (Some("0.0.0.0:11500"), "http://127.0.0.1:11500"),
            (Some("[::1]:9000"), "http://[::1]:9000"),
            (Some("[::1]"), "http://[::1]:11434"),
            (Some("[::]"), "http://[::1]:11434"),
            (Some("::1"), "http://[::1]:11434"),
            (Some("http://127.0.0.1:11434/"), "http://127.0.0.1:11434"),
            (Some("http://0.0.0.0:11434"), "http://127.0.0.1:11434"),
            (Some("https://127.0.0.1"), "https://127.0.0.1"),
            (
                Some("http://127.0.0.1:8080/ollama/"),
                "http://127.0.0.1:8080/ollama",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ollama_url(input).unwrap(),
                expected,
                "OLLAMA_HOST={input:?}"
            );
        }
    }

    #[test]
    fn ollama_host_bad_port() {
        let error = ollama_url(Some("127.0.0.1:99999")).unwrap_err();
        assert!(error.contains("invalid port \"99999\""), "{error}");
        assert!(error.contains("--url"), "{error}");
    }

    #[test]
    fn server_urls() {
        assert_eq!(
            server_url("127.0.0.1:8080", true).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_url("http://127.0.0.1:8080/v1/", true).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_url("http://127.0.0.1:8080/v1", false).unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            server_url("https://[::1]:8443/", false).unwrap(),
            "https://[::1]:8443"
        );
        assert!(
            server_url("ftp://127.0.0.1", false)
                .unwrap_err()
                .contains("http or https")
        );
        assert!(server_url(" ", false).unwrap_err().contains("empty"));
    }
}
