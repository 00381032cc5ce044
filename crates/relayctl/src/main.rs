fn main() {
    eprintln!("relayctl: not implemented yet");
    std::process::exit(1);
}
