fn main() -> std::process::ExitCode {
    bulk_reply::main()
}
