//! `report.html` for `vaerans eval --out`: one self-contained page (inline SVG charts drawn
//! with plotters, inline CSS, no script, nothing fetched) with the rate–distortion curves, the
//! BD-rates, the matched-rate comparison, mean and per-image tables, and the machine, device
//! and model used.

use std::fmt::Write as _;

use plotters::prelude::*;
use vaerans::{Error, Result};

use super::analysis::{first_seen, Curve, Matched};
use super::{EvalRow, Machine};

/// Everything the page shows.
pub struct Report<'a> {
    pub rows: &'a [EvalRow],
    pub curves: &'a [Curve],
    /// BD-rate of vaerans against each baseline: (name, PSNR, MS-SSIM), percent.
    pub bd: &'a [(String, Option<f64>, Option<f64>)],
    pub matched: &'a [Matched],
    pub model: &'a str,
    pub device: &'a str,
    pub machine: &'a Machine,
    pub command: &'a str,
    /// Each baseline's name and what it is.
    pub baselines: &'a [(String, String)],
}

/// Series colours, one per codec in order of appearance (vaerans first).
const PALETTE: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// HTML-escapes text.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn chart_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("report chart: {e}"))
}

/// Codec names in first-seen order.
fn codecs(curves: &[Curve]) -> Vec<&str> {
    first_seen(curves.iter().map(|c| c.codec.as_str()))
}

/// One rate–distortion chart as an SVG string: bits per pixel (log axis) against `metric`, one
/// line per codec, and the model-only ceiling as a dashed line when given.
fn rd_chart(
    curves: &[Curve],
    y_label: &str,
    metric: impl Fn(&Curve) -> Option<f64>,
    ceiling: Option<f64>,
) -> Result<String> {
    let names = codecs(curves);
    let series: Vec<(&str, Vec<(f64, f64)>)> = names
        .iter()
        .map(|&n| {
            let mut pts: Vec<(f64, f64)> = curves
                .iter()
                .filter(|c| c.codec == n && c.bpp > 0.0)
                .filter_map(|c| metric(c).filter(|v| v.is_finite()).map(|v| (c.bpp, v)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (n, pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if let Some(c) = ceiling {
        y0 = y0.min(c);
        y1 = y1.max(c);
    }
    if series.is_empty() {
        (x0, x1, y0, y1) = (0.01, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let (x0, x1, y0, y1) = (x0 / 1.25, x1 * 1.25, y0 - pad, y1 + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("bits per pixel (log scale)")
            .y_desc(y_label)
            .x_label_formatter(&|v| format!("{v}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_labels(8)
            .y_labels(8)
            .max_light_lines(2)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(chart_error)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(chart_error)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(chart_error)?;
        }
        if let Some(c) = ceiling {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, c), (x1, c)],
                    6,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(chart_error)?
                .label("vaerans model alone (no quantisation)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// Mean of `f` over the model-only (`vae`) rows, if there are any.
fn vae_mean(rows: &[EvalRow], f: impl Fn(&EvalRow) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.codec == "vaerans" && r.setting == "vae")
        .filter_map(f)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;\
color:#222;padding:0 1em}h1{margin-bottom:.2em}table{border-collapse:collapse;margin:.6em 0 1.4em}\
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}\
thead th{background:#f4f4f4}.charts{display:flex;flex-wrap:wrap;gap:1em}\
.charts figure{margin:0}figcaption{font-weight:600;margin:.3em 0}dl{display:grid;\
grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}\
code{background:#f4f4f4;padding:.1em .3em}details{margin:.3em 0}summary{cursor:pointer}";

fn row_table(out: &mut String, rows: &[&EvalRow]) {
    out.push_str(
        "<table><thead><tr><th>codec</th><th>setting</th><th>bytes</th><th>bpp</th>\
         <th>PSNR dB</th><th>SSIM</th><th>MS-SSIM</th><th>encode ms</th><th>decode ms</th>\
         </tr></thead><tbody>",
    );
    for r in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td>\
             <td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(&r.codec),
            esc(&r.setting),
            r.bytes.map_or("–".into(), |b| b.to_string()),
            opt(r.bpp, 4),
            r.psnr,
            opt(r.ssim, 4),
            opt(r.ms_ssim, 4),
            r.encode_seconds * 1e3,
            r.decode_seconds * 1e3
        );
    }
    out.push_str("</tbody></table>");
}

/// The whole page.
pub fn html(r: &Report<'_>) -> Result<String> {
    let psnr_chart = rd_chart(
        r.curves,
        "PSNR (dB, RGB)",
        |c| Some(c.psnr),
        vae_mean(r.rows, |x| Some(x.psnr)),
    )?;
    let ms_chart = rd_chart(
        r.curves,
        "MS-SSIM (RGB)",
        |c| c.ms_ssim,
        vae_mean(r.rows, |x| x.ms_ssim),
    )?;
    let images = first_seen(r.rows.iter().map(|row| row.image.as_str()));

    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>vaerans evaluation: {n} image(s)</title><style>{STYLE}</style></head><body>\
         <h1>vaerans evaluation</h1><p>{n} image(s), {codecs} codec(s). Rates in bits per \
         pixel; PSNR over RGB with an 8-bit peak; SSIM and MS-SSIM with an 11×11 Gaussian \
         window (σ 1.5), averaged over RGB.</p>",
        n = images.len(),
        codecs = codecs(r.curves).len(),
    );
    let _ = write!(
        out,
        "<h2>Set-up</h2><dl><dt>model</dt><dd>{}</dd><dt>latent stages on</dt><dd>{}</dd>\
         <dt>machine</dt><dd>{} ({} threads, {} {})</dd><dt>vaerans</dt><dd>{}</dd>\
         <dt>command</dt><dd><code>{}</code></dd></dl>",
        esc(r.model),
        esc(r.device),
        esc(&r.machine.cpu),
        r.machine.threads,
        r.machine.os,
        r.machine.arch,
        env!("CARGO_PKG_VERSION"),
        esc(r.command)
    );
    if !r.baselines.is_empty() {
        out.push_str("<h3>Baselines</h3><dl>");
        for (name, what) in r.baselines {
            let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(what));
        }
        out.push_str("</dl>");
    }

    out.push_str("<h2>Rate–distortion</h2><div class=\"charts\">");
    let _ = write!(
        out,
        "<figure id=\"rd-psnr\"><figcaption>bpp vs PSNR</figcaption>{psnr_chart}</figure>\
         <figure id=\"rd-msssim\"><figcaption>bpp vs MS-SSIM</figcaption>{ms_chart}</figure>"
    );
    out.push_str("</div>");

    if !r.bd.is_empty() {
        out.push_str(
            "<h2>BD-rate of vaerans</h2><p>Bjøntegaard delta rate on the mean curves: the \
             change in bits vaerans needs for the same quality, over the quality range both \
             curves cover (negative: vaerans needs fewer bits). MS-SSIM is compared in dB, \
             −10·log10(1 − MS-SSIM).</p><table><thead><tr><th>against</th><th>PSNR</th>\
             <th>MS-SSIM</th></tr></thead><tbody>",
        );
        for (name, p, m) in r.bd {
            let cell = |v: &Option<f64>| {
                v.map_or("not defined (curves do not overlap)".into(), |v| {
                    format!("{v:+.1}%")
                })
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                cell(p),
                cell(m)
            );
        }
        out.push_str("</tbody></table>");
    }

    if !r.matched.is_empty() {
        let baselines: Vec<&str> = r.matched[0]
            .baselines
            .iter()
            .map(|b| b.codec.as_str())
            .collect();
        out.push_str(
            "<h2>At matched rate</h2><p>Each baseline's mean curve interpolated (linear in \
             log bpp) at vaerans' rate; – where the baseline's sweep does not reach that \
             rate.</p><table><thead><tr><th>vaerans</th><th>bpp</th><th>PSNR</th>",
        );
        for b in &baselines {
            let _ = write!(out, "<th>{} PSNR</th>", esc(b));
        }
        out.push_str("<th>MS-SSIM</th>");
        for b in &baselines {
            let _ = write!(out, "<th>{} MS-SSIM</th>", esc(b));
        }
        out.push_str("</tr></thead><tbody>");
        for m in r.matched {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.2}</td>",
                esc(&m.setting),
                m.bpp,
                m.psnr
            );
            for b in &m.baselines {
                let _ = write!(out, "<td>{}</td>", opt(b.psnr, 2));
            }
            let _ = write!(out, "<td>{}</td>", opt(m.ms_ssim, 4));
            for b in &m.baselines {
                let _ = write!(out, "<td>{}</td>", opt(b.ms_ssim, 4));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }

    out.push_str(
        "<h2>Mean over the images</h2><table><thead><tr><th>codec</th><th>setting</th>\
         <th>bpp</th><th>PSNR dB</th><th>MS-SSIM</th><th>encode ms</th><th>decode ms</th>\
         </tr></thead><tbody>",
    );
    for c in r.curves {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.2}</td><td>{}</td><td>{:.1}</td>\
             <td>{:.1}</td></tr>",
            esc(&c.codec),
            esc(&c.setting),
            c.bpp,
            c.psnr,
            opt(c.ms_ssim, 4),
            c.encode_seconds * 1e3,
            c.decode_seconds * 1e3
        );
    }
    out.push_str("</tbody></table>");

    out.push_str("<h2>Per image</h2>");
    for image in &images {
        let rows: Vec<&EvalRow> = r.rows.iter().filter(|x| x.image == *image).collect();
        let (w, h) = rows.first().map_or((0, 0), |x| (x.width, x.height));
        let _ = write!(out, "<details><summary>{} ({w}×{h})</summary>", esc(image));
        row_table(&mut out, &rows);
        out.push_str("</details>");
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
