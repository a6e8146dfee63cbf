// Stages run in this binary (`skelflow __exec`): training wants jemalloc, see stages' alloc.rs.
skelflow_stages::training_allocator!();

fn main() {
    std::process::exit(skelflow::cli::main());
}
