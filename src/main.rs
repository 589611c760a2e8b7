/// mimalloc instead of the system allocator: a GraphQL response is hundreds of small,
/// short-lived allocations, and glibc's malloc spent about a quarter of the gateway's
/// CPU on them in the reference read's profile (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    credit_gateway::cli::run()
}
