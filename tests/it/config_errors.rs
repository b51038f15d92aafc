//! Bad config: a one-line error naming file, line and key, exit code 2, and
//! not one request to AWS (the emulator's recorder stays empty).

use crate::support::World;

struct Case {
    name: &'static str,
    yaml: Option<&'static str>,
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown key",
        yaml: Some("stack: s\nregion: us-east-1\nsagemaker:\n  endpoint_prefx: retail\n"),
        expect: &[
            "sundown.yaml:4:",
            "sagemaker.endpoint_prefx",
            "unknown key",
            "endpoint_prefix",
        ],
    },
    Case {
        name: "wrong type",
        yaml: Some("stack: s\nregion: us-east-1\necr:\n  repositories: retail-forecast\n"),
        expect: &["sundown.yaml:4:", "ecr.repositories", "invalid type"],
    },
    Case {
        name: "bad duration",
        yaml: Some("stack: s\nregion: us-east-1\nkubernetes:\n  namespaces: [a]\n  wait: ten minutes\n"),
        expect: &["sundown.yaml:5:", "kubernetes.wait", "invalid duration \"ten minutes\""],
    },
    Case {
        name: "missing stack",
        yaml: Some("region: us-east-1\naccounts: [\"123456789012\"]\n"),
        expect: &["sundown.yaml:1:", "stack: required key is missing"],
    },
    Case {
        name: "missing file",
        yaml: None,
        expect: &["sundown.yaml: not found", "--config"],
    },
];

#[test]
fn bad_configs_are_refused_with_one_line_and_no_aws_request() {
    let world = World::start();
    world.moto.start_recording();
    for case in CASES {
        let path = world.path("sundown.yaml");
        match case.yaml {
            Some(yaml) => std::fs::write(&path, yaml).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        let out = world.sundown().config(&path).args(&["plan"]).run();
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
    let recording = world.moto.recording();
    assert!(recording.is_empty(), "bad configs reached AWS: {recording:#?}");
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
