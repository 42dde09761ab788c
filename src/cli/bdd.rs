//! `callsim bdd`: runs Gherkin call-flow scenarios on the simulated world.

use std::path::PathBuf;

use crate::bdd::BddOptions;

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
    /// Run every scenario with this seed instead of its own.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Cucumber JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// How many scenarios run at once (default: one per core). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Where failing scenarios leave their trace and sequence diagrams.
    #[arg(long, value_name = "DIR", default_value = "target/callsim-bdd")]
    pub artifacts: PathBuf,
    /// Also print every step as it runs.
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
        options.junit = self.junit.clone();
        options.json = self.json.clone();
        if let Some(n) = self.concurrency {
            options.concurrency = n.max(1);
        }
        options.artifacts = self.artifacts.clone();
        options.steps = self.steps;
        options.keep_artifacts = self.keep_artifacts;
        options.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        options
    }
}
