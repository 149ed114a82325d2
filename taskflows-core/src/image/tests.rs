use super::check_image_reference;

#[test]
fn good_references() {
    for s in [
        "busybox",
        "python:3.12",
        "python:3.12-slim",
        "library/python",
        "tf-test-busybox:latest",
        "ghcr.io/org/app:1.0",
        "localhost/app",
        "localhost:5000/app:v1",
        "registry.example.com:443/team/sub/app_x:Tag_1.2-rc",
        "a__b/c-d/e--f/g.h",
        "[::1]:5000/app",
        "MyRegistry/app",
        "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(check_image_reference(s).map_err(|e| e.0), Ok(()), "{s}");
    }
    let tag128 = format!("app:{}", "t".repeat(128));
    assert!(check_image_reference(&tag128).is_ok());
}

#[test]
fn bad_references_say_what_is_wrong() {
    fn check(s: &str, what: &str) {
        let e = check_image_reference(s).expect_err(s).0;
        assert!(e.contains(what), "{s}: {e}");
        assert!(e.contains("[registry[:port]/]name[:tag][@sha256:DIGEST]"), "{s}: {e}");
    }
    check("", "it is empty");
    check("Python:3", "uppercase");
    check("org/App", "uppercase");
    check("app:", "the tag after ':' is empty");
    check("app:.hidden", "must not start with '.' or '-'");
    check("app:-x", "must not start with '.' or '-'");
    check("app:a+b", "may hold letters, digits");
    check("app:a/b", "port that is not a number");
    check(&format!("app:{}", "t".repeat(129)), "longer than 128");
    check(&format!("{}:1", "a".repeat(256)), "longer than 255");
    check("app@md5:abc", "sha256:<64 hex digits>");
    check("app@sha256:abc", "64 lowercase hex digits");
    check("app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "64 lowercase hex");
    check("org//app", "empty path component");
    check("/app", "empty path component");
    check("app/", "empty path component");
    check("-app", "may hold lowercase letters and digits");
    check("app-", "may hold lowercase letters and digits");
    check("a...b", "may hold lowercase letters and digits");
    check("a___b", "may hold lowercase letters and digits");
    check("a b", "may hold lowercase letters and digits");
    check("reg:port/app", "port that is not a number");
    check("-reg.io/app", "not a host name");
    check("reg..io/app", "not a host name");
    check("[::1/app", "unclosed '['");
    check("--privileged", "may hold lowercase letters and digits");
}
