//! Compiles `examples/proto/` for the `grpc_server` example and the gRPC tests, with feature
//! `grpc-example` only. Every other build runs this script and it does nothing: no protobuf
//! compiler, no generated code, no dependency.

fn main() {
    // Without this line any change in the package would run the script again.
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "grpc-example")]
    grpc_example::compile();
}

#[cfg(feature = "grpc-example")]
mod grpc_example {
    const PROTO_DIR: &str = "examples/proto";
    const PROTOS: [&str; 1] = ["examples/proto/orders.proto"];

    /// protox parses the files in Rust (no `protoc` needed anywhere); tonic-prost-build writes
    /// the messages, the client and the server into `OUT_DIR` (`orders.v1.rs`).
    pub(super) fn compile() {
        println!("cargo::rerun-if-changed={PROTO_DIR}");
        let descriptors = protox::compile(PROTOS, [PROTO_DIR])
            .unwrap_or_else(|error| panic!("examples/proto does not compile: {error}"));
        tonic_prost_build::configure()
            .compile_fds(descriptors)
            .unwrap_or_else(|error| panic!("generating the gRPC code: {error}"));
    }
}
