//! PNG pictures of fields: viridis colour map, a colour bar with the value
//! range written beside it (a tiny built-in bitmap font, so no font files),
//! titled panels tiled into figures. Curves and histograms are `charts`.

use std::path::Path;

use anyhow::{Context, Result};

/// Viridis by the 6th-order polynomial fit widely used in shaders
/// (max error about 0.5% of full scale), perceptually uniform.
pub fn viridis(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    const C: [[f64; 3]; 7] = [
        [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
        [0.1050930431085774, 1.404613529898575, 1.384590162594685],
        [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
        [-4.634230498983486, -5.799100973351585, -19.33244095627987],
        [6.228269936347081, 14.17993336680509, 56.69055260068105],
        [4.776384997670288, -13.74514537774601, -65.35303263337234],
        [-5.435455855934631, 4.645852612178535, 26.3124352495832],
    ];
    let mut rgb = [0u8; 3];
    for (k, out) in rgb.iter_mut().enumerate() {
        let mut v = C[6][k];
        for c in C[..6].iter().rev() {
            v = c[k] + t * v;
        }
        *out = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    rgb
}

/// 3x5 glyphs, rows top to bottom, 3 bits each (MSB left). Letters are
/// upper case (lower case is drawn as upper case, except the `e` of numbers).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        'e' => [0, 7, 7, 4, 7],
        '_' => [0, 0, 0, 0, 7],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '/' => [1, 1, 2, 4, 4],
        ':' => [0, 2, 0, 2, 0],
        '%' => [5, 1, 2, 4, 5],
        '=' => [0, 7, 0, 7, 0],
        '<' => [1, 2, 4, 2, 1],
        '>' => [4, 2, 1, 2, 4],
        c if c.is_ascii_lowercase() => glyph(c.to_ascii_uppercase()),
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        _ => [0, 0, 0, 0, 0],
    }
}

/// `panel` with `title` written in a band above it.
pub fn titled(panel: image::RgbImage, title: &str) -> image::RgbImage {
    let band = 22u32;
    let mut out = image::RgbImage::from_pixel(panel.width(), panel.height() + band, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, &panel, 0, band as i64);
    draw_text(&mut out, title, 16, 6, 2);
    out
}

fn draw_text(img: &mut image::RgbImage, text: &str, x0: u32, y0: u32, scale: u32) {
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let x = x0 + (i as u32 * 4 + col) * scale + dx;
                            let y = y0 + r as u32 * scale + dy;
                            if x < img.width() && y < img.height() {
                                img.put_pixel(x, y, image::Rgb([0, 0, 0]));
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn format_value(v: f64) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) { format!("{v:.4}") } else { format!("{v:.3e}") }
}

/// Renders `values` (`[mx][my]`, first index along x, drawn left to right; y
/// drawn upwards) into a PNG with a colour bar labelled with min and max.
pub fn field_png(values: &[f64], mx: usize, my: usize, range: Option<(f64, f64)>, path: &Path) -> Result<(f64, f64)> {
    let (img, lo, hi) = field_image(values, mx, my, range, 512);
    save_png(img, path)?;
    Ok((lo, hi))
}

pub fn save_png(img: image::RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .context("encoding PNG")?;
    mesofield_physics::io::write_atomic(path, &bytes)?;
    Ok(())
}

/// Panels side by side, rows top to bottom, on a white background.
pub fn tile(rows: Vec<Vec<image::RgbImage>>) -> image::RgbImage {
    let width = rows.iter().map(|r| r.iter().map(|p| p.width()).sum::<u32>()).max().unwrap_or(1);
    let height = rows.iter().map(|r| r.iter().map(|p| p.height()).max().unwrap_or(0)).sum::<u32>().max(1);
    let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut y = 0;
    for row in rows {
        let mut x = 0;
        let h = row.iter().map(|p| p.height()).max().unwrap_or(0);
        for panel in row {
            image::imageops::replace(&mut out, &panel, x as i64, y as i64);
            x += panel.width();
        }
        y += h;
    }
    out
}

/// The picture of `field_png` in memory, `size` pixels for the field's longer side.
pub fn field_image(
    values: &[f64],
    mx: usize,
    my: usize,
    range: Option<(f64, f64)>,
    size: usize,
) -> (image::RgbImage, f64, f64) {
    let (lo, hi) = range
        .unwrap_or_else(|| values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v))));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let cell = (size / mx.max(my)).max(1) as u32;
    let (width, height) = (mx as u32 * cell, my as u32 * cell);
    let (bar_w, gap, text_w) = (24u32, 10u32, 100u32);
    let margin = 16u32;
    let total_w = margin + width + gap + bar_w + 8 + text_w;
    let total_h = height + 2 * margin;
    let mut img = image::RgbImage::from_pixel(total_w, total_h, image::Rgb([255, 255, 255]));
    for ix in 0..mx {
        for iy in 0..my {
            let color = image::Rgb(viridis((values[ix * my + iy] - lo) / span));
            let px = margin + ix as u32 * cell;
            let py = margin + (my - 1 - iy) as u32 * cell;
            for dy in 0..cell {
                for dx in 0..cell {
                    img.put_pixel(px + dx, py + dy, color);
                }
            }
        }
    }
    let bar_x = margin + width + gap;
    for y in 0..height {
        let color = image::Rgb(viridis(1.0 - y as f64 / (height.max(2) - 1) as f64));
        for dx in 0..bar_w {
            img.put_pixel(bar_x + dx, margin + y, color);
        }
    }
    draw_text(&mut img, &format_value(hi), bar_x + bar_w + 6, margin, 2);
    draw_text(&mut img, &format_value(lo), bar_x + bar_w + 6, margin + height - 10, 2);
    (img, lo, hi)
}
