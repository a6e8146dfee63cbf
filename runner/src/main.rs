fn main() {
    println!("skelflow {}", env!("CARGO_PKG_VERSION"));
}
