fn main() -> std::process::ExitCode {
    credit_gateway::cli::run()
}
