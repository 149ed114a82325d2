//! Operations that need no systemd: bad input is refused before anything is touched, with the
//! exit code the front ends use.

use taskflows_api::{CreateRequest, Local, Operations, SourceFile, exit};
use taskflows_core::{AbsPath, RenderContext, Scope};

fn local(data: &std::path::Path) -> Local {
    let mut ctx = RenderContext::new(Scope::User);
    ctx.data_dir = AbsPath::new(data.display().to_string()).unwrap();
    Local::new(ctx)
}

fn request(content: &str) -> CreateRequest {
    CreateRequest {
        files: vec![SourceFile { label: "jobs.toml".into(), content: content.into() }],
        ..Default::default()
    }
}

#[tokio::test]
async fn bad_service_files_are_refused_with_their_field_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let local = local(dir.path());
    let err = local
        .create(&request("version = 1\n[[service]]\nname = \"a b\"\nstart_command = \"/bin/true\"\n"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID, "{err}");
    assert!(err.to_string().starts_with("jobs.toml:3:"), "{err}");

    let twice = "version = 1\n[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\n[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\n";
    let err = local.create(&request(twice)).await.unwrap_err();
    assert_eq!(
        (err.exit_code(), err.to_string()),
        (
            exit::INVALID,
            "jobs.toml:5:1: service[1].name: \"a\" is already the name of another service in this file".to_owned()
        )
    );

    let mut none = request("version = 1\n[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\n");
    none.include = vec!["zzz*".into()];
    let err = local.create(&none).await.unwrap_err();
    assert_eq!((err.exit_code(), err.to_string()), (exit::FAILED, "no services to create in jobs.toml".to_owned()));
    assert_eq!(err.hint(), Some("check the file's [[service]] tables and the -i/-e patterns"));
    // Nothing was written, not even the lock's folder content beyond the lock.
    let left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(left.iter().all(|f| f == ".lock"), "{left:?}");
}
