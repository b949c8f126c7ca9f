//! `eval`'s tables on stdout.

use super::analysis::{first_seen, BdRate, Curve, Matched};
use super::EvalRow;

pub(crate) fn print_matched(matched: &[Matched]) {
    let Some(first) = matched.first() else {
        return;
    };
    println!();
    println!("at vaerans' rate (baselines interpolated on their mean curves; - out of range):");
    print!("{:<8} {:>8} {:>17}", "vaerans", "bpp", "PSNR / MS-SSIM");
    for b in &first.baselines {
        print!(" {:>17}", b.codec);
    }
    println!();
    let cell = |p: Option<f64>, m: Option<f64>| match p {
        Some(p) => format!(
            "{p:.2} / {}",
            m.map_or("-".to_string(), |m| format!("{m:.4}"))
        ),
        None => "-".to_string(),
    };
    for m in matched {
        print!(
            "{:<8} {:>8.4} {:>17}",
            m.setting,
            m.bpp,
            cell(Some(m.psnr), m.ms_ssim)
        );
        for b in &m.baselines {
            print!(" {:>17}", cell(b.psnr, b.ms_ssim));
        }
        println!();
    }
}

pub(crate) fn print_curves(curves: &[Curve], bd: &[BdRate]) {
    if bd.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "codec", "setting", "bpp", "PSNR", "MS-SSIM", "enc s", "dec s"
    );
    for c in curves {
        println!(
            "{:<9} {:>7} {:>8.4} {:>8.2} {:>8} {:>9.4} {:>9.4}",
            c.codec,
            c.setting,
            c.bpp,
            c.psnr,
            c.ms_ssim.map_or("-".into(), |m| format!("{m:.4}")),
            c.encode_seconds,
            c.decode_seconds
        );
    }
    for b in bd {
        for (metric, r) in [("PSNR", &b.psnr), ("MS-SSIM", &b.ms_ssim)] {
            match r {
                Ok(v) => println!(
                    "BD-rate ({metric}) of vaerans against {}: {v:+.1}%",
                    b.baseline
                ),
                Err(e) => println!(
                    "BD-rate ({metric}) against {}: not defined ({e})",
                    b.baseline
                ),
            }
        }
    }
}

pub(crate) fn print_eval_table(rows: &[EvalRow], qualities: &[u8], model: &str) {
    let settings: Vec<String> = std::iter::once("vae".to_string())
        .chain(qualities.iter().map(|q| format!("q{q}")))
        .collect();
    println!("model {model}; PSNR in dB (RGB, 8-bit peak), rate in bits per pixel");
    print!("{:<16}{:>10}", "image", "VAE PSNR");
    for q in qualities {
        print!("{:>18}", format!("q{q} bpp / PSNR"));
    }
    println!();
    let images = first_seen(rows.iter().map(|r| r.image.as_str()));
    let cell = |image: &str, setting: &str| {
        rows.iter()
            .find(|r| r.image == image && r.setting == setting)
    };
    for image in &images {
        print!("{image:<16}");
        for s in &settings {
            match cell(image, s) {
                Some(r) if s == "vae" => print!("{:>10.2}", r.psnr),
                Some(r) => print!(
                    "{:>18}",
                    format!("{:.4} / {:.2}", r.bpp.unwrap_or(0.0), r.psnr)
                ),
                None => print!("{:>10}", "-"),
            }
        }
        println!();
    }
    print!("{:<16}", "mean");
    for s in &settings {
        let sel: Vec<&EvalRow> = rows.iter().filter(|r| &r.setting == s).collect();
        let n = sel.len().max(1) as f64;
        let psnr = sel.iter().map(|r| r.psnr).sum::<f64>() / n;
        if s == "vae" {
            print!("{psnr:>10.2}");
        } else {
            let bpp = sel.iter().filter_map(|r| r.bpp).sum::<f64>() / n;
            print!("{:>18}", format!("{bpp:.4} / {psnr:.2}"));
        }
    }
    println!();
    print!("{:<16}", "mean MS-SSIM");
    for s in &settings {
        let sel: Vec<f64> = rows
            .iter()
            .filter(|r| &r.setting == s)
            .filter_map(|r| r.ms_ssim)
            .collect();
        let cell = if sel.is_empty() {
            "-".to_string()
        } else {
            format!("{:.4}", sel.iter().sum::<f64>() / sel.len() as f64)
        };
        print!("{:>w$}", cell, w = if s == "vae" { 10 } else { 18 });
    }
    println!();
    let n = rows.iter().filter(|r| r.setting != "vae").count().max(1) as f64;
    let enc = rows
        .iter()
        .filter(|r| r.setting != "vae")
        .map(|r| r.encode_seconds)
        .sum::<f64>()
        / n;
    let dec = rows
        .iter()
        .filter(|r| r.setting != "vae")
        .map(|r| r.decode_seconds)
        .sum::<f64>()
        / n;
    println!("mean seconds per image: compress {enc:.3}, decompress {dec:.3}");
}
