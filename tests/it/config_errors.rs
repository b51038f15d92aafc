//! Bad input, as a table: malformed configs, credential and network
//! problems, a missing Terraform, a wrong confirmation or account. Each gets
//! a one-line error naming the fix, exit code 2, and no mutating request.

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::World;

/// How a case breaks the input.
enum Input {
    /// This text as sundown.yaml.
    Yaml(&'static str),
    /// No file at the config path.
    Missing,
    /// The config path is a directory.
    Directory,
    /// A 2 MiB file.
    Huge,
    /// A good config, with the environment changed.
    Env(Env),
}

enum Env {
    NoCredentials,
    /// No credentials, and the instance metadata service asked too (as on a laptop):
    /// the SDK's warning with its Debug dump must not show without -v.
    NoCredentialsAskingImds,
    /// AWS_PROFILE names a profile no file holds.
    MissingProfile,
    /// STS answers ExpiredToken (through the fault proxy).
    ExpiredCredentials,
    /// AWS_ENDPOINT_URL points at a closed port.
    Unreachable,
    /// terraform.binary does not exist.
    NoTerraform,
    /// --confirm yes.
    WrongConfirmation,
    /// The credentials' account is not in `accounts`.
    WrongAccount,
}

struct Case {
    name: &'static str,
    input: Input,
    expect: &'static [&'static str],
}

const GOOD: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\necr:\n  repositories: [retail-forecast]\n";

const CASES: &[Case] = &[
    Case {
        name: "bad YAML",
        input: Input::Yaml("stack: s\nregion: [us-east-1\n"),
        expect: &["sundown.yaml:"],
    },
    Case {
        name: "unknown key",
        input: Input::Yaml("stack: s\nregion: us-east-1\nsagemaker:\n  endpoint_prefx: retail\n"),
        expect: &[
            "sundown.yaml:4:",
            "sagemaker.endpoint_prefx",
            "unknown key",
            "endpoint_prefix",
        ],
    },
    Case {
        name: "unknown top-level key",
        input: Input::Yaml("stack: s\nregoin: us-east-1\n"),
        expect: &["sundown.yaml:2:", "regoin", "unknown key"],
    },
    Case {
        name: "wrong type",
        input: Input::Yaml("stack: s\nregion: us-east-1\necr:\n  repositories: retail-forecast\n"),
        expect: &["sundown.yaml:4:", "ecr.repositories", "invalid type"],
    },
    Case {
        name: "bad duration",
        input: Input::Yaml("stack: s\nregion: us-east-1\nkubernetes:\n  namespaces: [a]\n  wait: ten minutes\n"),
        expect: &["sundown.yaml:5:", "kubernetes.wait", "invalid duration \"ten minutes\""],
    },
    Case {
        name: "a bare number as a duration: one hint",
        input: Input::Yaml("stack: s\nregion: us-east-1\nsagemaker:\n  endpoint_prefix: x\n  wait: 10\n"),
        expect: &[
            "sundown.yaml:5:",
            "sagemaker.wait: invalid duration \"10\": a number without its unit; write e.g. 90s, 10m or 1h30m",
        ],
    },
    Case {
        name: "a region that is not a region code",
        input: Input::Yaml("stack: s\nregion: \"US East 1\"\n"),
        expect: &[
            "sundown.yaml:2:",
            "region: \"US East 1\" is not an AWS region code; write it as AWS does, e.g. us-east-1",
        ],
    },
    Case {
        name: "a tab in the indentation",
        input: Input::Yaml("stack: s\nregion: us-east-1\nsagemaker:\n\tendpoint_prefix: x\n"),
        expect: &["sundown.yaml:4:1: a tab in the indentation: YAML indents with spaces only; replace it with spaces"],
    },
    Case {
        name: "missing stack",
        input: Input::Yaml("region: us-east-1\naccounts: [\"123456789012\"]\n"),
        expect: &["sundown.yaml:1:", "stack: required key is missing"],
    },
    Case {
        name: "empty list",
        input: Input::Yaml("stack: s\nregion: us-east-1\necr:\n  repositories: []\n"),
        expect: &["sundown.yaml:4:", "ecr.repositories", "at least one"],
    },
    Case {
        name: "kubernetes naming neither cluster nor kubeconfig",
        input: Input::Yaml("stack: s\nregion: us-east-1\nkubernetes:\n  namespaces: [a]\n"),
        expect: &[
            "sundown.yaml:3:1:",
            "kubernetes: name the stack's cluster",
            "kubernetes.kubeconfig",
        ],
    },
    Case {
        name: "duplicate names",
        input: Input::Yaml("stack: s\nregion: us-east-1\nkubernetes:\n  namespaces: [web, web]\n"),
        expect: &["sundown.yaml:4:", "kubernetes.namespaces", "\"web\" is listed twice"],
    },
    Case {
        name: "a stack name that cannot be part of a tag key",
        input: Input::Yaml("stack: \"retail#forecast\"\nregion: us-east-1\n"),
        expect: &["sundown.yaml:1:", "stack: may hold only letters, digits", "not \"#\""],
    },
    Case {
        name: "empty endpoint prefix (would match every endpoint)",
        input: Input::Yaml("stack: s\nregion: us-east-1\nsagemaker:\n  endpoint_prefix: \"\"\n"),
        expect: &["sagemaker.endpoint_prefix", "must not be empty"],
    },
    Case {
        name: "bad account id",
        input: Input::Yaml("stack: s\nregion: us-east-1\naccounts: [\"12345\"]\n"),
        expect: &["sundown.yaml:3:", "accounts", "12-digit"],
    },
    Case {
        name: "empty file",
        input: Input::Yaml("\n"),
        expect: &["sundown.yaml: is empty"],
    },
    Case {
        name: "missing file",
        input: Input::Missing,
        expect: &["sundown.yaml: not found", "--config"],
    },
    Case {
        name: "path is a directory",
        input: Input::Directory,
        expect: &["is a directory"],
    },
    Case {
        name: "huge file",
        input: Input::Huge,
        expect: &["a config is at most 1 MiB"],
    },
    Case {
        name: "no credentials",
        input: Input::Env(Env::NoCredentials),
        expect: &["no usable AWS credentials", "AWS_PROFILE"],
    },
    Case {
        name: "no credentials, the instance metadata service asked too",
        input: Input::Env(Env::NoCredentialsAskingImds),
        expect: &["no usable AWS credentials", "AWS_PROFILE"],
    },
    Case {
        name: "a profile that does not exist",
        input: Input::Env(Env::MissingProfile),
        expect: &[
            "AWS_PROFILE=nope names a profile that is in neither",
            ".aws/config",
            "aws configure --profile nope",
        ],
    },
    Case {
        name: "expired credentials",
        input: Input::Env(Env::ExpiredCredentials),
        expect: &["ExpiredToken", "refresh them"],
    },
    Case {
        name: "unreachable endpoint",
        input: Input::Env(Env::Unreachable),
        expect: &["cannot reach AWS STS", "AWS_ENDPOINT_URL"],
    },
    Case {
        name: "missing terraform binary",
        input: Input::Env(Env::NoTerraform),
        expect: &["cannot run terraform binary", "terraform.binary"],
    },
    Case {
        name: "wrong confirmation",
        input: Input::Env(Env::WrongConfirmation),
        expect: &["confirmation \"yes\" is not \"destroy\"", "nothing was touched"],
    },
    Case {
        name: "wrong account",
        input: Input::Env(Env::WrongAccount),
        expect: &["account 123456789012", "not in accounts"],
    },
];

/// Every case runs `teardown --confirm destroy` (the most destructive command):
/// exit 2, one line on stderr naming the fix, nothing on stdout, and not one
/// mutating request at the emulator.
#[test]
fn bad_input_is_refused_with_one_line_and_no_mutating_request() {
    assert!(CASES.len() >= 15);
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    std::fs::create_dir_all(world.path("tf-module")).unwrap();
    let expired = FaultProxy::start(
        world.moto.port,
        Faults {
            always: Some(("GetCallerIdentity", 403, "ExpiredToken")),
            ..Faults::default()
        },
    );
    world.moto.start_recording();
    for case in CASES {
        let path = world.path("sundown.yaml");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
        let mut confirm = "destroy";
        let mut sundown = world.sundown();
        match &case.input {
            Input::Yaml(yaml) => std::fs::write(&path, yaml).unwrap(),
            Input::Missing => {}
            Input::Directory => std::fs::create_dir(&path).unwrap(),
            Input::Huge => std::fs::write(&path, format!("stack: s\nregion: r\n#{}\n", "x".repeat(2 << 20))).unwrap(),
            Input::Env(env) => {
                let mut yaml = GOOD.to_string();
                match env {
                    Env::NoCredentials => {
                        sundown = sundown
                            .env_remove("AWS_ACCESS_KEY_ID")
                            .env_remove("AWS_SECRET_ACCESS_KEY");
                    }
                    Env::NoCredentialsAskingImds => {
                        sundown = sundown
                            .env_remove("AWS_ACCESS_KEY_ID")
                            .env_remove("AWS_SECRET_ACCESS_KEY")
                            .env_remove("AWS_EC2_METADATA_DISABLED")
                            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds_refusing());
                    }
                    Env::MissingProfile => {
                        sundown = sundown
                            .env_remove("AWS_ACCESS_KEY_ID")
                            .env_remove("AWS_SECRET_ACCESS_KEY")
                            .env_remove("AWS_CONFIG_FILE")
                            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
                            .env("HOME", world.path("home").to_str().unwrap())
                            .env("AWS_PROFILE", "nope");
                    }
                    Env::ExpiredCredentials => sundown = sundown.env("AWS_ENDPOINT_URL", &expired.endpoint()),
                    Env::Unreachable => sundown = sundown.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                    Env::NoTerraform => {
                        yaml.push_str("terraform:\n  dir: tf-module\n  binary: /nonexistent/terraform\n")
                    }
                    Env::WrongConfirmation => confirm = "yes",
                    Env::WrongAccount => yaml = yaml.replace("123456789012", "999999999999"),
                }
                std::fs::write(&path, yaml).unwrap();
            }
        }
        let out = sundown.config(&path).args(&["teardown", "--confirm", confirm]).run();
        assert_eq!(out.code, 2, "{}: {out:#?}", case.name);
        assert!(out.stdout.is_empty(), "{}: {out:#?}", case.name);
        assert_eq!(
            out.stderr.trim_end().lines().count(),
            1,
            "{}: not one line: {out:#?}",
            case.name
        );
        for needle in case.expect {
            assert!(
                out.stderr.contains(needle),
                "{}: {needle:?} missing from {:?}",
                case.name,
                out.stderr
            );
        }
    }
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(
        writes.is_empty(),
        "bad input reached AWS with a mutating request: {writes:#?}"
    );
    let left = crate::support::block_on(world.leftovers(&["retail-forecast"]));
    assert_eq!((left.endpoints.len(), left.images), (1, 3), "{left:?}");
}

#[test]
fn config_path_comes_from_env_then_default() {
    let world = World::start();
    let custom = world.path("custom.yaml");
    std::fs::write(&custom, "stack: from-env\nregion: us-east-1\n").unwrap();
    let out = world
        .sundown()
        .env("SUNDOWN_CONFIG", custom.to_str().unwrap())
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["stack"], "from-env");
    // No flag and no variable: ./sundown.yaml in the working directory.
    world.config("stack: from-cwd\nregion: us-east-1\n");
    let out = world.sundown().args(&["plan", "--output", "json"]).run();
    assert_eq!(out.json()["stack"], "from-cwd", "{out:#?}");
}

/// `cost --offline` asks no price API but still reads the stack from AWS: without
/// credentials it says so at once, in one line, exit 2 (issue 30's choice).
#[test]
fn cost_offline_without_credentials_says_at_once_that_it_still_reads_aws() {
    let world = World::start();
    let config = world.config(GOOD);
    let out = world
        .sundown()
        .config(&config)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(&["cost", "--offline"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{out:#?}");
    assert!(line.contains("no usable AWS credentials"), "{line}");
    assert!(
        line.contains("cost --offline asks no price API, but still reads the stack from AWS"),
        "{line}"
    );
}

/// An instance metadata service that answers every request 403 Forbidden, as
/// a network that blocks IMDS does off EC2 (the SDK then warns with the
/// error's whole Debug dump, where a closed port would be skipped quietly).
fn imds_refusing() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    url
}
