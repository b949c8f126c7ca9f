//! The `vaerans` binary end to end, on the tiny test model (and the embedded one once).
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::RgbImage;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vaerans"))
}

fn models_dir() -> PathBuf {
    std::fs::canonicalize("tests/models").unwrap()
}

/// A temporary working directory with a config naming the tiny model `tiny`.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let m = models_dir();
    std::fs::write(
        dir.path().join("vaerans.toml"),
        format!(
            "default = \"tiny\"\n[models.tiny]\nencoder = \"{}\"\ndecoder = \"{}\"\n",
            m.join("tiny_encoder.onnx").display(),
            m.join("tiny_decoder.onnx").display()
        ),
    )
    .unwrap();
    dir
}

fn photo(path: &Path, w: u32, h: u32) {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    })
    .save(path)
    .unwrap();
}

/// The devices this build can run the latent stages on.
fn devices() -> Vec<&'static str> {
    if cfg!(feature = "gpu") {
        vec!["cpu", "gpu"]
    } else {
        vec!["cpu"]
    }
}

fn run(cmd: &mut Command, dir: &Path) -> Output {
    let out = cmd
        .current_dir(dir)
        .env_remove("VAERANS_CONFIG")
        .output()
        .unwrap();
    eprintln!("stdout: {}", String::from_utf8_lossy(&out.stdout));
    eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn compress_info_decompress_one_file() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 45, 30);
    let out = run(
        bin().args(["compress", "a.png", "-o", "a.vaer", "-q", "40"]),
        d,
    );
    assert!(out.status.success());
    assert!(d.join("a.vaer").is_file());

    let out = run(bin().args(["info", "a.vaer", "--json"]), d);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["width"], 45);
    assert_eq!(info["height"], 30);
    assert_eq!(info["padded_width"], 48);
    assert_eq!(info["padded_height"], 32);
    assert_eq!(info["latent_channels"], 4);
    assert_eq!(info["model"], "tiny");
    // Quality 40 is the base alone, at that quality.
    assert_eq!(info["quality"], 40);
    assert!(info["enhancement"].is_null());
    assert_eq!(info["decoder_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        info["bytes_total"],
        std::fs::metadata(d.join("a.vaer")).unwrap().len()
    );
    let text = run(bin().args(["info", "a.vaer"]), d);
    assert!(String::from_utf8_lossy(&text.stdout).contains("model           tiny"));

    // No --model: the stream names its model, which the config resolves.
    let out = run(bin().args(["decompress", "a.vaer", "-o", "b.png"]), d);
    assert!(out.status.success());
    let back = image::open(d.join("b.png")).unwrap();
    assert_eq!((back.width(), back.height()), (45, 30));
}

#[test]
fn directories_json_lines_and_per_file_failures() {
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("in")).unwrap();
    photo(&d.join("in/x.png"), 16, 16);
    photo(&d.join("in/y.png"), 40, 24);
    std::fs::write(d.join("in/broken.png"), b"not a png").unwrap();
    let out = run(
        bin().args(["compress", "in", "-o", "out", "--json", "--model", "tiny"]),
        d,
    );
    // One file failed: non-zero exit, one error line naming it, the others written.
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.png"), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        for key in ["input", "output", "bytes", "bpp", "seconds"] {
            assert!(l.get(key).is_some(), "{l} lacks {key}");
        }
        assert!(l["bpp"].as_f64().unwrap() > 0.0);
    }
    let mut written: Vec<String> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    // No temporary or half-written file is left behind.
    assert_eq!(written, ["x.vaer", "y.vaer"]);

    let out = run(bin().args(["decompress", "out", "-o", "png"]), d);
    assert!(out.status.success());
    assert!(d.join("png/x.png").is_file() && d.join("png/y.png").is_file());
}

/// The pipeline (the default) and `--one-batch-at-a-time` write the same files both ways, and
/// each run ends with its line: files, rate, how, peak memory.
#[test]
fn pipelined_and_one_batch_at_a_time_write_the_same_files() {
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("in")).unwrap();
    for (i, (w, h)) in [(16, 16), (40, 24), (24, 40), (33, 17), (8, 8)]
        .iter()
        .enumerate()
    {
        photo(&d.join(format!("in/{i}.png")), *w, *h);
    }
    let read = |sub: &str| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d.join(sub))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let modes: [&[&str]; 2] = [
        &["--lanes", "2", "--batch", "2"],
        &["--one-batch-at-a-time"],
    ];
    for (k, mode) in modes.iter().enumerate() {
        let out = run(
            bin()
                .args(["compress", "in", "-o", &format!("s{k}"), "--model", "tiny"])
                .args(*mode),
            d,
        );
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let how = if k == 0 {
            "pipelined, 2 lane(s) × batches of 2"
        } else {
            "one batch of 16"
        };
        assert!(
            stderr.contains("compressed 5 files in") && stderr.contains(how),
            "{stderr}"
        );
        assert!(
            stderr.contains("peak memory") && stderr.contains("MiB"),
            "{stderr}"
        );
        let out = run(
            bin()
                .args(["decompress", &format!("s{k}"), "-o", &format!("p{k}")])
                .args(*mode),
            d,
        );
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("decompressed 5 files in"));
    }
    assert_eq!(read("s0"), read("s1"));
    assert_eq!(read("s0").len(), 5);
    assert_eq!(read("p0"), read("p1"));
}

/// A stream is untrusted: the model it names only selects among the configured models and the
/// embedded one (by name, else by decoder hash). Planted model folders named like the stream,
/// relative or absolute, are never loaded.
#[test]
fn a_stream_cannot_choose_model_files() {
    use vaerans::prelude::*;
    let dir = workdir();
    let d = dir.path();
    // Junk "models" where a path-reading resolver would look: loading them would fail loudly.
    for planted in [d.join("evil"), d.join("abs")] {
        std::fs::create_dir(&planted).unwrap();
        for f in ["encoder.onnx", "decoder.onnx"] {
            std::fs::write(planted.join(f), b"planted, not a model").unwrap();
        }
    }
    let abs = d.join("abs").display().to_string();
    for (k, name) in ["evil", "evil/encoder.onnx", abs.as_str()]
        .iter()
        .enumerate()
    {
        // The tiny model's graphs, filed under the hostile name.
        let mut spec = ModelSpec::from_path(&models_dir().join("tiny_encoder.onnx")).unwrap();
        spec.name = name.to_string();
        let codec = Codec::builder()
            .model_spec(spec)
            .execution_provider(ExecutionProvider::Cpu)
            .device(Device::Cpu)
            .build()
            .unwrap();
        let img = RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 5, 40]));
        std::fs::write(d.join(format!("s{k}.vaer")), codec.compress(&img).unwrap()).unwrap();

        // The configured `tiny` has the stream's decoder hash: it decodes, nothing planted is read.
        let out = run(
            bin().args(["decompress", &format!("s{k}.vaer"), "-o", "x.png"]),
            d,
        );
        assert!(out.status.success(), "{name}");
        assert!(d.join("x.png").is_file());
        std::fs::remove_file(d.join("x.png")).unwrap();

        // No configured model has its hash: a clear refusal, still nothing read.
        let config = std::fs::read(d.join("vaerans.toml")).unwrap();
        std::fs::write(d.join("vaerans.toml"), "").unwrap();
        let out = run(
            bin().args(["decompress", &format!("s{k}.vaer"), "-o", "x.png"]),
            d,
        );
        std::fs::write(d.join("vaerans.toml"), config).unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("never read as a path"), "{err}");
        assert!(
            !err.contains("planted") && !err.contains("protobuf"),
            "{err}"
        );
        assert!(!d.join("x.png").exists());
    }
}

/// Outputs that would destroy data are refused before anything is written: an output that is
/// its input (also through a link), several inputs into one file; a refused run leaves no
/// empty folder.
#[test]
fn outputs_that_would_lose_data_are_refused() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 16, 16);
    photo(&d.join("b.png"), 16, 16);
    std::os::unix::fs::symlink(d.join("a.png"), d.join("link.png")).unwrap();
    let original = std::fs::read(d.join("a.png")).unwrap();
    for out in ["a.png", "link.png"] {
        let r = run(bin().args(["compress", "a.png", "-o", out]), d);
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("would overwrite its own input"), "{err}");
    }
    assert_eq!(std::fs::read(d.join("a.png")).unwrap(), original);
    assert!(run(bin().args(["compress", "a.png", "-o", "a.vaer"]), d)
        .status
        .success());
    let stream = std::fs::read(d.join("a.vaer")).unwrap();
    let r = run(bin().args(["decompress", "a.vaer", "-o", "a.vaer"]), d);
    assert!(!r.status.success());
    assert_eq!(std::fs::read(d.join("a.vaer")).unwrap(), stream);

    // Two inputs, one file name: an error, and no folder of that name.
    let r = run(
        bin().args(["compress", "a.png", "b.png", "-o", "two.vaer"]),
        d,
    );
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("need an output folder"), "{err}");
    assert!(!d.join("two.vaer").exists());
    // A run refused for its model leaves no empty output folder.
    let r = run(
        bin().args([
            "compress", "a.png", "b.png", "-o", "out", "--model", "missing",
        ]),
        d,
    );
    assert!(!r.status.success());
    assert!(!d.join("out").exists());
}

/// SIGINT while outputs are being written: exit status 130 and no temporary file left.
#[test]
fn an_interrupted_run_leaves_no_temporary_file() {
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("in")).unwrap();
    for i in 0..16 {
        photo(&d.join(format!("in/{i}.png")), 2048, 1536);
    }
    assert!(run(bin().args(["compress", "in", "-o", "s"]), d)
        .status
        .success());
    let temporaries = |dir: &Path| -> usize {
        std::fs::read_dir(dir).map_or(0, |rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .count()
        })
    };
    let mut child = bin()
        .args(["decompress", "s", "-o", "png"])
        .current_dir(d)
        .env_remove("VAERANS_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as a PNG is being written.
    let start = std::time::Instant::now();
    while temporaries(&d.join("png")) == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "no write seen"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before a write was seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(temporaries(&d.join("png")), 0);
    // What was written is whole.
    for e in std::fs::read_dir(d.join("png")).unwrap() {
        image::open(e.unwrap().path()).unwrap();
    }
}

/// Images are read as a viewer shows them: EXIF orientation applied, the format taken from
/// the content, and alpha never dropped silently (`--alpha` chooses).
#[test]
fn images_are_read_as_a_viewer_shows_them() {
    use image::ImageEncoder;
    let dir = workdir();
    let d = dir.path();
    let info = |stream: &str| -> serde_json::Value {
        let out = run(bin().args(["info", stream, "--json"]), d);
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // A 30×20 JPEG whose EXIF says "rotate 90° clockwise" (orientation 6) is 20×30.
    let img = RgbImage::from_fn(30, 20, |x, y| image::Rgb([x as u8 * 8, y as u8 * 12, 90]));
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95);
    // TIFF header (big-endian), one IFD entry: Orientation (0x0112), SHORT, 1, value 6.
    let exif = [
        b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
    ];
    enc.set_exif_metadata(exif.to_vec()).unwrap();
    enc.write_image(img.as_raw(), 30, 20, image::ExtendedColorType::Rgb8)
        .unwrap();
    // Named .png: the content says JPEG, and that is what counts.
    std::fs::write(d.join("portrait.png"), &jpeg).unwrap();
    assert!(
        run(bin().args(["compress", "portrait.png", "-o", "p.vaer"]), d)
            .status
            .success()
    );
    let v = info("p.vaer");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(20), Some(30))
    );

    // RGBA: refused by default with what to do; dropped or composited when asked.
    let rgba = image::RgbaImage::from_fn(16, 16, |x, _| image::Rgba([200, 30, 30, (x * 16) as u8]));
    rgba.save(d.join("alpha.png")).unwrap();
    let out = run(bin().args(["compress", "alpha.png", "-o", "a.vaer"]), d);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alpha channel") && err.contains("--alpha"),
        "{err}"
    );
    assert!(!d.join("a.vaer").exists());
    for policy in ["drop", "over=ffffff"] {
        let out = run(
            bin().args(["compress", "alpha.png", "-o", "a.vaer", "--alpha", policy]),
            d,
        );
        assert!(out.status.success(), "{policy}");
    }
    let out = run(
        bin().args([
            "compress",
            "alpha.png",
            "-o",
            "a.vaer",
            "--alpha",
            "over=12",
        ]),
        d,
    );
    assert!(!out.status.success());
}

/// The working-memory budget refuses an image or a stream before anything is allocated for
/// it, names the flag that raises it, and writes nothing (exit status 1).
#[test]
fn the_memory_budget_refuses_up_front_and_names_its_flag() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("p.png"), 512, 512);
    let out = run(
        bin().args(["compress", "p.png", "-o", "p.vaer", "--max-memory", "4"]),
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("512×512") && err.contains("budget of 4 MiB") && err.contains("--max-memory"),
        "{err}"
    );
    assert!(!d.join("p.vaer").exists());
    let out = run(bin().args(["compress", "p.png", "-o", "p.vaer"]), d);
    assert!(out.status.success());
    let out = run(
        bin().args(["decompress", "p.vaer", "-o", "p2.png", "--max-memory", "4"]),
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("budget of 4 MiB"));
    assert!(!d.join("p2.png").exists());
    let out = run(bin().args(["decompress", "p.vaer", "-o", "p2.png"]), d);
    assert!(out.status.success());
}

/// Absurd benchmark shapes and images too wide for a baseline are clear errors or skipped
/// baselines, never a panic or an aborted allocation.
#[test]
fn absurd_sizes_are_errors_not_aborts() {
    let dir = workdir();
    let d = dir.path();
    for (args, says) in [
        (&["bench", "--latent", "256x4096x4096"][..], "at most"),
        (&["bench", "--latent", "3x8x8"][..], "multiple of 4"),
        (&["bench", "--size", "100000x100000"][..], "sides up to"),
        (
            &["bench", "--size", "8000x8000", "--batch", "64"][..],
            "pixels per batch",
        ),
    ] {
        let out = run(bin().args(args), d);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A side of 17000: WebP cannot code it; eval says so and reports vaerans' rows.
    photo(&d.join("wide.png"), 17000, 8);
    let out = run(
        bin().args([
            "eval",
            "wide.png",
            "-q",
            "50",
            "--baselines",
            "webp",
            "--out",
            "r",
        ]),
        d,
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("webp skipped") && err.contains("16383"),
        "{err}"
    );
    let results = std::fs::read_to_string(d.join("r/results.csv")).unwrap();
    assert!(results.contains("vaerans"), "{results}");
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let dir = workdir();
    let d = dir.path();
    let out = run(bin().args(["compress", "missing.png", "-o", "m.vaer"]), d);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error:") && err.contains("missing.png"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    std::fs::write(d.join("junk.vaer"), b"VAERjunk").unwrap();
    let out = run(bin().args(["decompress", "junk.vaer", "-o", "j.png"]), d);
    assert!(!out.status.success());
    assert!(!d.join("j.png").exists());

    let out = run(bin().args(["compress", "x.png", "-o", "y", "-q", "0"]), d);
    assert!(!out.status.success());

    // A stream decoded with another model names both.
    photo(&d.join("p.png"), 8, 8);
    assert!(run(bin().args(["compress", "p.png", "-o", "p.vaer"]), d)
        .status
        .success());
    let out = run(
        bin().args([
            "decompress",
            "p.vaer",
            "-o",
            "p2.png",
            "--model",
            "vaerans-small-v1",
        ]),
        d,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`tiny`") && err.contains("`vaerans-small-v1`"),
        "{err}"
    );
    assert!(!d.join("p2.png").exists());
}

#[test]
fn providers_that_cannot_start_say_why_and_auto_says_what_it_chose() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("p.png"), 16, 16);
    let compress = |ep: &str| {
        let mut cmd = bin();
        cmd.args([
            "compress", "p.png", "-o", "p.vaer", "--device", "cpu", "--ep", ep,
        ]);
        cmd
    };
    let fails = |out: &Output, needles: &[&str]| {
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let [err] = errors[..] else {
            panic!("one error line expected: {stderr}");
        };
        for n in needles {
            assert!(err.contains(n), "`{n}` missing from: {err}");
        }
        assert!(
            !d.join("p.vaer").exists(),
            "nothing may run on the CPU instead"
        );
    };

    // No plugin: where it looked, and how to install it.
    let out = run(
        compress("webgpu").env("VAERANS_WEBGPU_EP_PATH", d.join("nowhere.so")),
        d,
    );
    fails(
        &out,
        &["not installed", "nowhere.so", "pip install", "(--ep cpu)"],
    );

    // The plugin, but no Vulkan driver at all: no adapter, and what it needs.
    let out = run(
        compress("webgpu").env("VK_ICD_FILENAMES", d.join("no-driver.json")),
        d,
    );
    fails(&out, &["found no adapter", "Vulkan"]);

    // CUDA in a build without it, or on a machine without it.
    let out = run(&mut compress("cuda"), d);
    fails(&out, &["CUDA"]);

    // Auto logs its choice and why it passed over the others.
    let out = run(&mut compress("auto"), d);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("execution provider auto: using"), "{err}");
    assert!(err.contains("not WebGPU"), "{err}");
}

#[test]
fn models_lists_default_and_configured() {
    let dir = workdir();
    let out = run(bin().args(["models", "--json"]), dir.path());
    assert!(out.status.success());
    let models: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["vaerans-small-v1", "tiny"]);
    for m in &models {
        assert_eq!(m["loads"], true, "{m}");
        assert_eq!(m["latent"], "4×H/8×W/8");
    }
    assert_eq!(models[1]["default"], true);
}

#[test]
fn vaerans_config_wins_over_the_working_directory_and_must_exist() {
    // The working directory's vaerans.toml names `tiny`; the one VAERANS_CONFIG names calls
    // the same files `elsewhere`.
    let dir = workdir();
    let other = tempfile::tempdir().unwrap();
    let m = models_dir();
    let named = other.path().join("other.toml");
    std::fs::write(
        &named,
        format!(
            "[models.elsewhere]\nencoder = \"{}\"\ndecoder = \"{}\"\n",
            m.join("tiny_encoder.onnx").display(),
            m.join("tiny_decoder.onnx").display()
        ),
    )
    .unwrap();
    let models = |config: &Path| {
        bin()
            .args(["models", "--json"])
            .current_dir(dir.path())
            .env("VAERANS_CONFIG", config)
            .output()
            .unwrap()
    };
    let out = models(&named);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"elsewhere\""), "{stdout}");
    assert!(!stdout.contains("\"tiny\""), "{stdout}");

    let missing = other.path().join("missing.toml");
    let out = models(&missing);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("VAERANS_CONFIG") && stderr.contains("missing.toml"),
        "{stderr}"
    );
}

#[test]
fn eval_reports_vae_and_every_quality() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("e.png"), 40, 24);
    let out = run(
        bin().args(["eval", "e.png", "-q", "30,90", "--no-baselines", "--json"]),
        d,
    );
    assert!(out.status.success());
    // The report goes to ./vaerans-eval unless told otherwise.
    for f in ["results.json", "results.csv", "report.html"] {
        assert!(d.join("vaerans-eval").join(f).is_file(), "{f}");
    }
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let settings: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["codec"].as_str().unwrap(), r["setting"].as_str().unwrap()))
        .collect();
    // Quality 90 has a residual layer: its base alone is measured too.
    assert_eq!(
        settings,
        [
            ("vaerans", "vae"),
            ("vaerans", "q30"),
            ("vaerans-base", "q90"),
            ("vaerans", "q90")
        ]
    );
    // More rate buys fidelity: the latent alone up to the model's own reconstruction, and
    // past it with the residual layer.
    let (vae, q30, q90) = (&rows[0], &rows[1], &rows[3]);
    assert!(q90["bytes"].as_u64() > q30["bytes"].as_u64());
    assert!(vae["psnr"].as_f64().unwrap() + 0.05 >= q30["psnr"].as_f64().unwrap());
    assert!(q90["psnr"].as_f64().unwrap() > vae["psnr"].as_f64().unwrap() + 3.0);
}

#[cfg(feature = "gpu")]
#[test]
fn device_gpu_streams_decode_on_the_cpu_and_back() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 45, 30);
    let ok = |args: &[&str]| {
        let out = run(bin().args(args), d);
        assert!(out.status.success());
        out
    };
    ok(&["compress", "a.png", "-o", "g.vaer", "--device", "gpu"]);
    ok(&["compress", "a.png", "-o", "c.vaer", "--device", "cpu"]);
    ok(&["decompress", "g.vaer", "-o", "g.png", "--device", "cpu"]);
    ok(&["decompress", "c.vaer", "-o", "c.png", "--device", "gpu"]);
    let g = image::open(d.join("g.png")).unwrap().to_rgb8();
    let c = image::open(d.join("c.png")).unwrap().to_rgb8();
    let a = image::open(d.join("a.png")).unwrap().to_rgb8();
    let psnr = |b: &RgbImage| vaerans::metrics::psnr_u8(a.as_raw(), b.as_raw()).unwrap();
    assert!(
        (psnr(&g) - psnr(&c)).abs() <= 0.05,
        "{} vs {}",
        psnr(&g),
        psnr(&c)
    );

    // An adapter that does not exist: one line, non-zero, and it says what to do.
    let out = run(
        bin()
            .args(["compress", "a.png", "-o", "x.vaer", "--device", "gpu"])
            .env("WGPU_ADAPTER_NAME", "no-such-adapter"),
        d,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WGPU_ADAPTER_NAME"), "{err}");
    // Mesa's Vulkan loader complains on its own when a headless machine has no
    // XDG_RUNTIME_DIR; that line is the driver's, not ours.
    let ours = err
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .count();
    assert_eq!(ours, 1, "{err}");
    assert!(!d.join("x.vaer").exists());
}

/// `bench --compare` runs the three configurations in one go (here the third on WebGPU,
/// lavapipe's), each row saying where the VAE and the latent stages ran and the VAE's share.
#[cfg(feature = "gpu")]
#[test]
fn bench_compare_runs_three_configurations_in_one_run() {
    let dir = workdir();
    let d = dir.path();
    let out = run(
        bin().args([
            "bench",
            "--compare",
            "--ep",
            "webgpu",
            "--size",
            "32x24",
            "--batch",
            "2",
            "--iters",
            "1",
            "--json",
        ]),
        d,
    );
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["config"].as_str().unwrap(),
                r["vae_provider"].as_str().unwrap(),
                r["device"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("cpu", "cpu", "cpu"),
            ("latent-gpu", "cpu", "gpu"),
            ("gpu", "webgpu", "gpu")
        ]
    );
    for r in &rows {
        let share = r["vae_share"].as_f64().unwrap();
        assert!(share > 0.0 && share <= 1.0, "{r}");
        assert!(r["decode_images_per_s"].as_f64().unwrap() > 0.0);
    }
    // Under auto on a machine without a GPU provider, the third is skipped with the reason.
    let out = run(
        bin().args([
            "bench",
            "--compare",
            "--size",
            "16x16",
            "--batch",
            "1",
            "--iters",
            "1",
        ]),
        d,
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("configuration gpu: skipped"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("against cpu") && text.contains("latent-gpu"),
        "{text}"
    );
}

#[test]
fn bench_prints_images_per_second_and_every_stage() {
    let dir = workdir();
    let d = dir.path();
    for device in devices() {
        let out = run(
            bin().args([
                "bench", "--device", device, "--iters", "1", "--batch", "1,3", "--latent",
                "4x16x24",
            ]),
            d,
        );
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for stage in [
            "hadamard",
            "wavelet",
            "quantize",
            "rans",
            "dequantize",
            "readback",
        ] {
            assert!(text.contains(stage), "{text}");
        }
        assert!(text.contains(&format!("on {device}")), "{text}");
        let out = run(
            bin().args([
                "bench", "--device", device, "--iters", "1", "--batch", "2", "--latent", "4x9x7",
                "--json",
            ]),
            d,
        );
        assert!(out.status.success());
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["batch"], 2);
        assert!(v["encode_images_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(v["stage_ms"].as_array().unwrap().len(), 9);
    }
    let out = run(bin().args(["bench", "--latent", "4x0x3"]), d);
    assert!(!out.status.success());
}

#[test]
fn bench_runs_the_whole_codec_on_images_by_default() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 40, 24);
    photo(&d.join("b.png"), 24, 40);
    for device in devices() {
        // Synthetic images of a given size.
        let out = run(
            bin().args([
                "bench", "--device", device, "--iters", "1", "--batch", "1,3", "--size", "40x24",
                "-q", "40",
            ]),
            d,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for stage in ["VaeEncode", "hadamard", "quantize", "rans⁻¹", "VaeDecode"] {
            assert!(text.contains(stage), "{text}");
        }
        assert!(text.contains("synthetic 40×24 images"), "{text}");
        // Real images, cycled to fill the batch; JSON lines.
        let out = run(
            bin().args([
                "bench", "a.png", "b.png", "--device", device, "--iters", "1", "--batch", "3",
                "--json", "-q", "40",
            ]),
            d,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["workload"], "images");
        assert_eq!(v["device"], device);
        assert_eq!(v["batch"], 3);
        assert_eq!(v["shape"], serde_json::json!([24, 40, 3]));
        assert!(v["encode_images_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["decode_images_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["bytes_per_image"].as_f64().unwrap() > 0.0);
        let stages: Vec<&str> = v["stage_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[0].as_str().unwrap())
            .collect();
        assert_eq!(stages.first(), Some(&"VaeEncode"), "{stages:?}");
        assert_eq!(stages.last(), Some(&"VaeDecode"), "{stages:?}");
        assert_eq!(stages.len(), 10, "{stages:?}");
    }
    // A missing image is an error, not an empty benchmark.
    let out = run(bin().args(["bench", "missing.png"]), d);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.png"));
}

#[test]
fn trace_prints_every_system_with_its_device() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 40, 24);
    photo(&d.join("b.png"), 40, 24);
    let out = run(
        bin().args([
            "compress", "a.png", "b.png", "-o", "s", "--device", "cpu", "--trace", "-q", "40",
        ]),
        d,
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for system in ["VaeEncode", "hadamard", "wavelet", "quantize", "rans"] {
        let line = err
            .lines()
            .find(|l| l.starts_with(system))
            .unwrap_or_else(|| panic!("no {system} row in {err}"));
        assert!(line.contains(" cpu "), "{line}");
        assert!(
            line.split_whitespace().nth(3) == Some("2"),
            "two entities: {line}"
        );
    }
    let out = run(bin().args(["decompress", "s", "-o", "o", "--trace"]), d);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for system in [
        "rans⁻¹",
        "dequantize",
        "wavelet⁻¹",
        "hadamard⁻¹",
        "VaeDecode",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(system)),
            "no {system} in {err}"
        );
    }
}

#[test]
fn eval_writes_reports_with_baselines_and_bd_rate() {
    let dir = workdir();
    let d = dir.path();
    // MS-SSIM needs 161 pixels a side.
    photo(&d.join("a.png"), 176, 168);
    photo(&d.join("b<&>.png"), 168, 176);
    let mut baselines = vec!["jpeg", "webp"];
    if cfg!(feature = "avif") {
        baselines.push("avif");
    }
    let list = baselines.join(",");
    let out = run(
        bin().args([
            "eval",
            "a.png",
            "b<&>.png",
            "-q",
            "20,40,60,80,95",
            "--baselines",
            &list,
            "--out",
            "report",
        ]),
        d,
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BD-rate"), "{text}");
    assert!(text.contains("at vaerans' rate"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report/results.json")).unwrap())
            .unwrap();
    let rows = json["rows"].as_array().unwrap();
    // Per image: the model alone, 5 vaerans qualities (and the base alone of the 3 with a
    // residual layer), 12 qualities of each baseline.
    let n = baselines.len();
    assert_eq!(rows.len(), 2 * (1 + 5 + 3 + 12 * n));
    assert!(rows.iter().all(|r| r["psnr"].as_f64().unwrap() > 0.0));
    assert!(rows
        .iter()
        .filter(|r| r["codec"] != "vaerans")
        .all(|r| r["ms_ssim"].as_f64().unwrap() > 0.0 && r["bytes"].as_u64().unwrap() > 0));
    assert_eq!(json["curves"].as_array().unwrap().len(), 5 + 3 + 12 * n);
    for b in &baselines {
        assert!(json["bd_rate_psnr_percent_vs"].get(b).is_some(), "{b}");
        assert!(json["bd_rate_ms_ssim_percent_vs"].get(b).is_some(), "{b}");
    }
    let matched = json["matched_rate"].as_array().unwrap();
    assert_eq!(matched.len(), 5);
    assert_eq!(matched[0]["baselines"].as_array().unwrap().len(), n);
    assert!(json["machine"]["threads"].as_u64().unwrap() >= 1);
    let csv = std::fs::read_to_string(d.join("report/results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + rows.len());
    assert!(csv.starts_with("codec,image,width,height,setting,bytes,bpp,psnr"));

    // The page: both charts inline, a curve per codec, the tables, nothing fetched, names
    // escaped. (scripts/check-report.sh opens it in headless Chromium.)
    let html = std::fs::read_to_string(d.join("report/report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for fig in ["rd-psnr", "rd-msssim"] {
        let at = html.find(&format!("<figure id=\"{fig}\">")).unwrap();
        let end = at + html[at..].find("</figure>").unwrap();
        let chart = &html[at..end];
        assert!(chart.contains("<svg"), "{fig}");
        // vaerans is drawn in #D62728: its curve and its legend entry.
        assert!(chart.matches("stroke=\"#D62728\"").count() >= 2, "{fig}");
        for codec in &baselines {
            assert!(chart.contains(&format!(">\n{codec}\n<")), "{fig}: {codec}");
        }
    }
    assert!(html.contains("BD-rate of vaerans"));
    assert!(html.contains("At matched rate"));
    assert!(html.contains("b&lt;&amp;&gt;.png"));
    assert!(!html.contains("b<&>.png"));
    assert_eq!(html.matches("<details>").count(), 2);
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));

    let out = run(bin().args(["eval", "a.png", "--baselines", "gif"]), d);
    assert!(!out.status.success());
    if !cfg!(feature = "avif") {
        // Asked for a codec this build lacks: an error before any work, saying how to get it.
        let out = run(bin().args(["eval", "a.png", "--baselines", "avif"]), d);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features avif"), "{err}");
    }
}

/// `models --calibrate` measures a model on the images given and writes a calibration that
/// `--calibration` then codes with; `info` shows what the stream records.
#[test]
fn a_model_calibrated_from_the_command_line_is_used_and_info_shows_it() {
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("train")).unwrap();
    photo(&d.join("train/a.png"), 160, 128);
    photo(&d.join("p.png"), 96, 64);
    let out = run(
        bin().args([
            "models",
            "--calibrate",
            "vaerans-small-v1",
            "--images",
            "train",
            "--out",
            "cal.toml",
        ]),
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("channel weights") && said.contains("cal.toml"),
        "{said}"
    );
    let cal = vaerans::vae::Calibration::load(&d.join("cal.toml")).unwrap();
    assert_eq!(cal.images, 1);
    let out = run(
        bin().args([
            "compress",
            "p.png",
            "-o",
            "p.vaer",
            "-m",
            "vaerans-small-v1",
            "--calibration",
            "cal.toml",
            "-q",
            "40",
        ]),
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(bin().args(["info", "p.vaer"]), d);
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(
        // A small latent: no tables pays (format 3).
        info.contains("format version  3.0")
            && info.contains("input range     [-1, 1], downsample 8")
            && info.contains("zero bands"),
        "{info}"
    );
    let out = run(bin().args(["decompress", "p.vaer", "-o", "p2.png"]), d);
    assert!(out.status.success());
    // A calibration file that is not one is an error naming it.
    std::fs::write(d.join("bad.toml"), "model = 3").unwrap();
    let out = run(
        bin().args([
            "compress",
            "p.png",
            "-o",
            "q.vaer",
            "--calibration",
            "bad.toml",
        ]),
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[test]
fn input_range_is_honoured_recorded_and_required_to_decode() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("p.png"), 96, 64);
    let encoder = models_dir().join("tiny_encoder.onnx");
    let encoder = encoder.to_str().unwrap();
    // `vaerans WHAT INPUT -o OUT -m ENCODER [--input-range RANGE]`.
    let code = |what: &str, input: &str, out: &str, range: Option<&str>| {
        let mut cmd = bin();
        cmd.args([what, input, "-o", out, "-m", encoder]);
        if let Some(r) = range {
            cmd.args(["--input-range", r]);
        }
        run(&mut cmd, d)
    };
    let compress = |range: Option<&str>, out: &str| code("compress", "p.png", out, range);
    let out = compress(Some("0,1"), "p01.vaer");
    assert!(out.status.success());
    let out = compress(None, "p11.vaer");
    assert!(out.status.success());
    // The range is recorded, and changes what the model sees.
    let info =
        String::from_utf8_lossy(&run(bin().args(["info", "p01.vaer"]), d).stdout).into_owned();
    assert!(info.contains("input range     [0, 1]"), "{info}");
    let (a, b) = (
        std::fs::read(d.join("p01.vaer")).unwrap(),
        std::fs::read(d.join("p11.vaer")).unwrap(),
    );
    assert_ne!(a, b);
    // Decoding under another range is an error naming both; under the same range it decodes.
    let decompress = |range: Option<&str>, out: &str| code("decompress", "p01.vaer", out, range);
    let out = decompress(None, "wrong.png");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[0, 1]") && err.contains("[-1, 1]"), "{err}");
    assert!(!d.join("wrong.png").exists());
    let out = decompress(Some("0,1"), "right.png");
    assert!(out.status.success());
    assert_eq!(image::open(d.join("right.png")).unwrap().width(), 96);
    // A range that is not one is refused by the command line.
    for bad in ["1,1", "0", "0,inf", "a,b"] {
        let out = compress(Some(bad), "bad.vaer");
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// `--residual-quality` adds an enhancement layer that lifts quality past the model's; the
/// stream crosses devices; `--base-only` decodes the base alone, exactly what a stream without
/// the layer gives; `info` and `eval` show the layer.
#[test]
fn residual_layers_from_the_command_line() {
    let dir = workdir();
    let d = dir.path();
    photo(&d.join("a.png"), 45, 30);
    let ok = |args: &[&str]| {
        let out = run(bin().args(args), d);
        assert!(out.status.success(), "{args:?}");
        out
    };
    ok(&[
        "compress",
        "a.png",
        "-o",
        "base.vaer",
        "-q",
        "60",
        "--no-residual",
    ]);
    ok(&["decompress", "base.vaer", "-o", "base.png"]);
    let a = image::open(d.join("a.png")).unwrap().to_rgb8();
    let read = |f: &str| image::open(d.join(f)).unwrap().to_rgb8();
    let psnr = |b: &RgbImage| vaerans::metrics::psnr_u8(a.as_raw(), b.as_raw()).unwrap();
    for device in devices() {
        let (s, only) = (format!("{device}.vaer"), format!("{device}-base.png"));
        ok(&[
            "compress",
            "a.png",
            "-o",
            &s,
            "-q",
            "60",
            "--residual-quality",
            "85",
            "--residual-blur",
            "0.5",
            "--device",
            device,
        ]);
        for decoder in devices() {
            let out = format!("{device}-on-{decoder}.png");
            ok(&["decompress", &s, "-o", &out, "--device", decoder]);
            assert!(
                psnr(&read(&out)) > psnr(&read("base.png")) + 3.0,
                "{device}→{decoder}"
            );
        }
        ok(&["decompress", &s, "-o", &only, "--base-only"]);
        assert_eq!(read(&only), read("base.png"), "{device}");
        let info = ok(&["info", &s, "--json"]);
        let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(info["enhancement"]["quality"], 85);
        assert_eq!(info["enhancement"]["blur_sigma"], 0.5);
        assert!(info["version"].as_str().unwrap().starts_with("4.0"));
    }
    // GPU-encoded on the CPU and the reverse, against the CPU both ways.
    if devices().contains(&"gpu") {
        let c = psnr(&read("cpu-on-cpu.png"));
        for f in ["gpu-on-cpu.png", "cpu-on-gpu.png", "gpu-on-gpu.png"] {
            assert!(
                (psnr(&read(f)) - c).abs() <= 0.05,
                "{f}: {} vs {c}",
                psnr(&read(f))
            );
        }
    }
    let out = ok(&[
        "eval",
        "a.png",
        "-q",
        "40",
        "--residual-quality",
        "50",
        "--no-baselines",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let codecs: Vec<&str> = rows.iter().map(|r| r["codec"].as_str().unwrap()).collect();
    assert_eq!(codecs, ["vaerans", "vaerans-base", "vaerans"]);
    assert!(rows[2]["psnr"].as_f64() > rows[1]["psnr"].as_f64());
    assert!(rows[2]["bytes"].as_u64() > rows[1]["bytes"].as_u64());
}

/// `vaerans latents`: latent files of every type into shards and back, a damaged member named
/// and the others decoded, an image's latent from its stream, and the tiny model's latents
/// extracted from images.
#[test]
fn latent_caches_from_the_command_line() {
    use vaerans::latent::file::{LatentArray, LatentDType};
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("in")).unwrap();
    // A batch of three f16 latents, one bf16 and one f32.
    let values = |n: usize, k: f32| -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.37 + k).sin() * 2.0 + (i % 7) as f32 * 0.1)
            .collect()
    };
    let round = |v: Vec<f32>, t: LatentDType| v.into_iter().map(|x| t.round(x)).collect();
    let arrays = [
        ("batch.npy", vec![3, 4, 16, 24], LatentDType::F16),
        ("one.safetensors", vec![16, 8, 8], LatentDType::Bf16),
        ("full.npy", vec![4, 12, 20], LatentDType::F32),
    ];
    for (name, shape, t) in &arrays {
        let n = shape.iter().product();
        LatentArray::new(round(values(n, n as f32), *t), shape.clone(), *t)
            .unwrap()
            .write(&d.join("in").join(name))
            .unwrap();
    }
    let out = run(
        bin().args([
            "latents",
            "encode",
            "in",
            "-o",
            "cache.tar",
            "--shard-size",
            "3",
            "--max-error",
            "0.05",
            "--model-name",
            "sdxl-vae",
        ]),
        d,
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 latents"));
    // Five latents, three a shard: batch_000000..2 in the first, full and one in the second.
    let out = run(bin().args(["info", "cache-000000.tar", "--json"]), d);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["batch_000000", "batch_000001", "batch_000002"]);
    assert_eq!(lines[0]["dtype"], "f16");
    assert_eq!(lines[0]["model"], "sdxl-vae");
    assert_eq!(lines[0]["latent"], serde_json::json!([4, 16, 24]));

    let out = run(
        bin().args([
            "latents",
            "decode",
            "cache-000000.tar",
            "cache-000001.tar",
            "-o",
            "out",
        ]),
        d,
    );
    assert!(out.status.success());
    let read = |p: &str| LatentArray::read(&d.join(p), &vaerans::Limits::default()).unwrap();
    let batch = read("in/batch.npy");
    let first = read("out/batch_000001.npy");
    assert_eq!(
        (first.shape(), first.dtype()),
        (&[4, 16, 24][..], LatentDType::F16)
    );
    let (max, _) = vaerans::latent::bare::measure(batch.latent(1).unwrap(), first.data());
    assert!(max <= 0.05, "{max}");
    // bf16 comes back as .safetensors (NumPy has no bf16), f32 as f32.
    assert_eq!(read("out/one.safetensors").dtype(), LatentDType::Bf16);
    assert_eq!(read("out/full.npy").dtype(), LatentDType::F32);

    // One damaged member: named by key, the others still decode, the run fails.
    let mut bytes = std::fs::read(d.join("cache-000000.tar")).unwrap();
    let at = 512 + 600; // inside the first member's stream
    bytes[at] ^= 0x10;
    std::fs::write(d.join("cache-000000.tar"), &bytes).unwrap();
    let out = run(bin().args(["latents", "verify", "cache-000000.tar"]), d);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("batch_000000") && text.contains("DAMAGED"),
        "{text}"
    );
    let out = run(
        bin().args(["latents", "decode", "cache-000000.tar", "-o", "out2"]),
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key batch_000000"));
    assert!(d.join("out2/batch_000001.npy").is_file());
    assert!(d.join("out2/batch_000002.npy").is_file());
    assert!(!d.join("out2/batch_000000.npy").exists());

    // Appending to a shard.
    let out = run(
        bin().args([
            "latents",
            "encode",
            "in/full.npy",
            "-o",
            "cache-000001.tar",
            "--append",
        ]),
        d,
    );
    assert!(
        !out.status.success(),
        "the key `full` is in the shard already"
    );
    std::fs::copy(d.join("in/full.npy"), d.join("in/again.npy")).unwrap();
    let out = run(
        bin().args([
            "latents",
            "encode",
            "in/again.npy",
            "-o",
            "cache-000001.tar",
            "--append",
        ]),
        d,
    );
    assert!(out.status.success());
    let out = run(bin().args(["info", "cache-000001.tar"]), d);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 members"));

    // A bare latent's stream is not an image; an image's stream gives its latent.
    let out = run(
        bin().args(["latents", "encode", "in/full.npy", "-o", "f"]),
        d,
    );
    assert!(out.status.success());
    let out = run(bin().args(["decompress", "f/full.vaer", "-o", "x.png"]), d);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bare latent"));
    // Two inputs with a key in common: the second is refused, not written over the first.
    let out = run(
        bin().args(["latents", "decode", "cache-000001.tar", "f", "-o", "both"]),
        d,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key full") && err.contains("another input"),
        "{err}"
    );
    assert!(d.join("both/again.npy").is_file());
    photo(&d.join("a.png"), 45, 30);
    assert!(run(bin().args(["compress", "a.png", "-o", "a.vaer"]), d)
        .status
        .success());
    let out = run(bin().args(["latents", "decode", "a.vaer", "-o", "lat"]), d);
    assert!(out.status.success());
    assert_eq!(read("lat/a.npy").dtype(), LatentDType::F32);
    let out = run(
        bin().args(["decompress", "a.vaer", "--latent", "-o", "lat2"]),
        d,
    );
    assert!(out.status.success());
    assert_eq!(read("lat2/a.npy"), read("lat/a.npy"));
    // The model's latents of images, one batch file.
    photo(&d.join("b.png"), 45, 30);
    let out = run(
        bin().args([
            "latents",
            "extract",
            "a.png",
            "b.png",
            "-o",
            "ab.safetensors",
            "--ep",
            "cpu",
        ]),
        d,
    );
    assert!(out.status.success());
    let ab = read("ab.safetensors");
    assert_eq!(ab.count(), 2);
    assert_eq!(ab.dtype(), LatentDType::F16);
    // Latents the codec cannot take: errors that say why, per file.
    LatentArray::new(vec![0.5; 4 * 4 * 4], vec![4, 4, 4], LatentDType::F32)
        .unwrap()
        .write(&d.join("ok.npy"))
        .unwrap();
    std::fs::write(
        d.join("cut.npy"),
        &std::fs::read(d.join("ok.npy")).unwrap()[..90],
    )
    .unwrap();
    let out = run(
        bin().args(["latents", "encode", "cut.npy", "ok.npy", "-o", "bad"]),
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut.npy"));
    assert!(d.join("bad/ok.vaer").is_file());
}
