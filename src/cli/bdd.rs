//! `callsim bdd`: runs Gherkin call-flow scenarios on the simulated world.

use std::path::PathBuf;

use crate::bdd::{BddOptions, parse_seeds};

/// The arguments of `callsim bdd`.
#[derive(Debug, Clone, clap::Args)]
pub struct BddArgs {
    /// Feature files or folders to run.
    #[arg(value_name = "PATH", default_value = "features")]
    pub paths: Vec<PathBuf>,
    /// Only scenarios matching this tag expression, e.g. `@races and not @slow`.
    #[arg(long, value_name = "EXPR")]
    pub tags: Option<String>,
    /// Only scenarios whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub name: Option<String>,
    /// Run every scenario with this seed instead of its own (`@seed(N)` pins included; the
    /// run names the pinned scenarios it overrides).
    #[arg(long, value_name = "N", conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run every scenario once per seed from A to B (inclusive), e.g. `1..1000`, and report,
    /// per scenario, the seeds that failed with their replay commands.
    #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
    pub seeds: Option<(u64, u64)>,
    /// Run only part I of N (1-based), split by a stable hash of file and scenario name: the
    /// N parts are disjoint and together make the whole run.
    #[arg(long, value_name = "I/N", value_parser = crate::bdd::catalog::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// List the selected scenarios (file:line, name, tags, seed) without running them.
    #[arg(long)]
    pub list: bool,
    /// Start no new scenario once one failed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Fail a scenario that would run longer than this much simulated time, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::bdd::DEFAULT_MAX_SIM_MS / 1000)]
    pub max_sim_time: u64,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Cucumber JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// How many scenarios run at once (default: one per core; at least 1). Results do not
    /// depend on it.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Where failing scenarios leave their trace and sequence diagrams.
    #[arg(long, value_name = "DIR", default_value = "target/callsim-bdd")]
    pub artifacts: PathBuf,
    /// Also print every step under its scenario's line.
    #[arg(long)]
    pub steps: bool,
    /// Write the trace and sequence diagrams of every scenario, not only of failing ones.
    #[arg(long)]
    pub keep_artifacts: bool,
}

impl BddArgs {
    /// The runner's options for these arguments.
    pub fn options(&self) -> BddOptions {
        let mut options = BddOptions::new(self.paths.clone());
        options.tags = self.tags.clone();
        options.name = self.name.clone();
        options.seed = self.seed;
        options.seeds = self.seeds;
        options.shard = self.shard;
        options.list = self.list;
        options.fail_fast = self.fail_fast;
        options.max_sim_ms = self.max_sim_time.saturating_mul(1000);
        options.junit = self.junit.clone();
        options.json = self.json.clone();
        if let Some(n) = self.concurrency {
            options.concurrency = n;
        }
        options.artifacts = self.artifacts.clone();
        options.steps = self.steps;
        options.keep_artifacts = self.keep_artifacts;
        options.progress = crate::bdd::stderr_is_terminal();
        options
    }
}
