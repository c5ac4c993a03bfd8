//! PSCF's r-grid field files: a file in PSCF's layout (tests/data, written
//! as `pscf_pc` writes one: a rectangular 1.6 x 2.4 cell, 4 x 3 mesh, the
//! first index fastest, a group name) read into mesofield's `[Mx][My]`
//! order, and a round trip that keeps every bit.

use mesofield_physics::pscf::RGrid;

const FILE: &str = include_str!("data/pscf_rect_4x3.rf");

#[test]
fn a_pscf_file_reads_into_mesofield_order() {
    let rgrid = RGrid::parse(FILE).unwrap();
    assert_eq!(rgrid.cell, [1.6, 2.4]);
    assert_eq!(rgrid.mesh, [4, 3]);
    assert_eq!(rgrid.monomers, 2);
    let (mx, my) = (4, 3);
    let m = mx * my;
    // Column 0 (A) at (ix, iy) holds 10 ix + iy + 0.25, column 1 (B) its negative.
    for ix in 0..mx {
        for iy in 0..my {
            let a = 10.0 * ix as f64 + iy as f64 + 0.25;
            assert_eq!(rgrid.fields[ix * my + iy], a, "A at ({ix}, {iy})");
            assert_eq!(rgrid.fields[m + ix * my + iy], -a, "B at ({ix}, {iy})");
        }
    }
}

#[test]
fn writing_and_reading_back_keeps_every_bit() {
    let (mx, my) = (5, 4);
    let fields: Vec<f64> = (0..2 * mx * my).map(|i| (i as f64 * 0.7311).sin() * 3.0 + 1e-13 * i as f64).collect();
    for cell in [[6.4, 6.4], [3.2, 12.8]] {
        let written = RGrid { cell, mesh: [mx, my], fields: fields.clone(), monomers: 2 };
        let text = written.to_text();
        assert!(text.contains(if cell[0] == cell[1] { "square" } else { "rectangular" }));
        assert_eq!(RGrid::parse(&text).unwrap(), written);
    }
    // The tree's file survives a round trip too.
    let read = RGrid::parse(FILE).unwrap();
    assert_eq!(RGrid::parse(&read.to_text()).unwrap(), read);
}

#[test]
fn malformed_files_are_refused_with_the_reason() {
    let cases = [
        ("", "format"),
        (&FILE.replace("                   2\ncrystal_system", "                   3\ncrystal_system"), "dim"),
        (&FILE.replace("rectangular", "hexagonal"), "crystal_system"),
        (&FILE.replace("    3.025000000E+01    -3.025000000E+01\n", ""), "values for a 4 x 3 mesh"),
        (&FILE.replace("2.500000000E-01    -2.500000000E-01", "2.5e-1 nan"), "non-finite"),
        (&FILE.replace("2.500000000E-01    -2.500000000E-01", "2.5e-1 x"), "not a number"),
        (&FILE.replace("mesh", "grid"), "unknown header entry"),
    ];
    for (text, reason) in cases {
        let err = RGrid::parse(text).unwrap_err().to_string();
        assert!(err.contains(reason), "{reason}: {err}");
    }
}
