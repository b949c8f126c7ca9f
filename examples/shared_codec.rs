//! A server's load: one `Codec` shared by many threads, each compressing and decompressing
//! images in its own order. Every stream and every decoded image must equal the serial
//! run's; the resident memory is sampled as the run goes, to show it stays flat.
//!
//! ```text
//! cargo run --release --example shared_codec -- DIR [THREADS] [IMAGES_PER_THREAD]
//! ```
//!
//! Defaults: 8 threads × 200 images, cycling through the images in DIR (PNG or JPEG).
//! Linux (the memory figures read /proc/self/status).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use vaerans::{Alpha, Codec, Device};

fn status_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn main() -> vaerans::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().expect("DIR of images");
    let threads: usize = args.get(1).map_or(8, |s| s.parse().expect("THREADS"));
    let per_thread: usize = args
        .get(2)
        .map_or(200, |s| s.parse().expect("IMAGES_PER_THREAD"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| vaerans::Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png" || x == "jpg"))
        .collect();
    paths.sort();
    let images: Vec<_> = paths
        .iter()
        .map(|p| vaerans::open_image(p, Alpha::Drop))
        .collect::<vaerans::Result<_>>()?;
    assert!(!images.is_empty(), "no images in {dir}");
    let codec = Codec::builder().device(Device::Cpu).build()?;

    let start = Instant::now();
    let serial: Vec<(Vec<u8>, image::RgbImage)> = images
        .iter()
        .map(|img| {
            let s = codec.compress(img)?;
            let back = codec.decompress(&s)?;
            Ok((s, back))
        })
        .collect::<vaerans::Result<_>>()?;
    let serial_s = start.elapsed().as_secs_f64() / images.len() as f64;
    println!(
        "{} images of {}×{}…; serial: {:.1} ms per image both ways; resident {} MiB",
        images.len(),
        images[0].width(),
        images[0].height(),
        serial_s * 1e3,
        status_mib("VmRSS:")
    );

    let done = AtomicUsize::new(0);
    let total = threads * per_thread;
    let samples = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (codec, images, serial, done, samples) =
                (&codec, &images, &serial, &done, &samples);
            scope.spawn(move || {
                for k in 0..per_thread {
                    let i = (t * 7 + k) % images.len();
                    let s = codec.compress(&images[i]).expect("compress");
                    assert_eq!(s, serial[i].0, "thread {t}: image {i}'s stream differs");
                    let back = codec.decompress(&s).expect("decompress");
                    assert!(
                        back == serial[i].1,
                        "thread {t}: image {i} decodes differently"
                    );
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % (total / 10).max(1) == 0 {
                        let mut s = samples.lock().unwrap_or_else(|p| p.into_inner());
                        s.push((n, status_mib("VmRSS:")));
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let samples = samples.into_inner().unwrap_or_else(|p| p.into_inner());
    println!(
        "{threads} threads × {per_thread} images: all {total} streams and images equal the serial \
         run's; {:.1} images/s both ways ({:.2}× serial), peak {} MiB",
        total as f64 / secs,
        total as f64 / secs * serial_s,
        status_mib("VmHWM:")
    );
    let line: Vec<String> = samples
        .iter()
        .map(|(n, mib)| format!("{n}: {mib}"))
        .collect();
    println!("resident MiB after n images: {}", line.join(", "));
    Ok(())
}
