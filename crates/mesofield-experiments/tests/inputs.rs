//! The inputs every pipeline shares: experiment files, the solver choice,
//! the backend, and what kind of file a path holds.

use std::path::PathBuf;

use mesofield_experiments::files::describe;
use mesofield_experiments::spec::parse_spec;
use mesofield_experiments::{Backend, SolverChoice};
use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};

#[derive(Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Tiny {
    steps: usize,
}

#[test]
fn experiment_files_pick_their_table_and_refuse_unknown_keys() {
    let text = "[default]\nsteps = 100\n[quick]\nsteps = 5\n";
    assert_eq!(parse_spec::<Tiny>(text, false).unwrap(), Tiny { steps: 100 });
    assert_eq!(parse_spec::<Tiny>(text, true).unwrap(), Tiny { steps: 5 });
    let err = parse_spec::<Tiny>("[default]\nsteps = 1\nstep = 2\n[quick]\nsteps = 1\n", false).unwrap_err();
    assert!(err.to_string().contains("step"), "{err}");
    assert!(!err.to_string().contains('\n'), "a one-line error: {err}");
    assert!(parse_spec::<Tiny>("[default]\nsteps = 1\n", false).is_err(), "a file without [quick]");
}

#[test]
fn solver_choice_and_backend_round_trip_through_text() {
    for text in ["exact", "operator:checkpoints/fig3/best"] {
        let choice: SolverChoice = text.parse().unwrap();
        assert_eq!(choice.to_string(), text);
    }
    assert_eq!("operator:a/b".parse::<SolverChoice>().unwrap(), SolverChoice::Operator(PathBuf::from("a/b")));
    for bad in ["magic", "operator:", "Exact"] {
        let err = bad.parse::<SolverChoice>().unwrap_err().to_string();
        assert!(err.contains("operator:CHECKPOINT"), "{bad}: {err}");
    }
    assert_eq!("cpu".parse::<Backend>().unwrap(), Backend::Cpu);
    assert_eq!("wgpu".parse::<Backend>().unwrap().to_string(), "wgpu");
    assert!("cuda".parse::<Backend>().is_err());
    // The exact choice loads nothing.
    let model = mesofield_physics::ChainModel::default();
    let grid = mesofield_physics::Grid::for_model(&model, 8, 8).unwrap();
    let set = mesofield_experiments::roles::resolve(&SolverChoice::Exact, Backend::Cpu, &model, &grid).unwrap();
    assert!(set.kinds().is_empty() && set.solvers().operator.is_none() && set.label() == "exact");
}

#[test]
fn files_are_described_by_the_kind_their_metadata_names() {
    let dir = std::env::temp_dir().join(format!("mesofield-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let phi: Vec<f64> = (0..2 * 16).map(|i| if i < 16 { 0.7 } else { 0.3 }).collect();
    let path = dir.join("saddle.safetensors");
    let meta =
        serde_json::json!({"format": "mesofield-scft", "chi": 0.3, "model": mesofield_physics::ChainModel::default()});
    let bytes = to_safetensors(
        &[("phi", vec![1, 2, 4, 4], TensorData::F64(&phi)), ("dF", vec![1], TensorData::F64(&[-0.1]))],
        &meta.to_string(),
    )
    .unwrap();
    write_atomic(&path, &bytes).unwrap();
    let info = describe(&FieldFile::open(&path).unwrap()).unwrap();
    assert_eq!(info.format, "mesofield-scft");
    assert!(info.kind.contains("SCFT"));
    assert!(info.model.is_some() && info.metadata.get("model").is_none());
    let phi_info = info.tensors.iter().find(|t| t.name == "phi").unwrap();
    assert_eq!(phi_info.shape, [1, 2, 4, 4]);
    assert!((phi_info.channels[0].mean - 0.7).abs() < 1e-12 && (phi_info.channels[1].mean - 0.3).abs() < 1e-12);
    assert_eq!((phi_info.channels[0].min, phi_info.channels[1].max), (0.7, 0.3));
    let foreign = dir.join("foreign.safetensors");
    write_atomic(&foreign, &to_safetensors(&[("weights", vec![1], TensorData::F64(&[1.0]))], "{}").unwrap()).unwrap();
    let err = describe(&FieldFile::open(&foreign).unwrap()).unwrap_err().to_string();
    assert!(err.contains("not a mesofield file"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
