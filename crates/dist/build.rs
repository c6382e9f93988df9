//! Compiles proto/graph.proto with protox (a protobuf compiler in Rust, so
//! no system protoc is needed) and generates the tonic service.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/graph.proto");
    let fds = protox::compile(["proto/graph.proto"], ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
