fn main() -> std::process::ExitCode {
    wfm_publisher::cli::main()
}
