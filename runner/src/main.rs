fn main() {
    std::process::exit(skelflow::cli::main());
}
