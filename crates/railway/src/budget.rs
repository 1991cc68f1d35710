//! What one health read costs in Railway API requests, planned with the same functions the live
//! client batches with (so the estimate cannot drift from what is sent), and whether a cron
//! schedule fits a plan's hourly limit. Pure: `autofix doctor` reports it before any cycle runs.

use crate::live::{http_plan, http_services, usage_plan};
use crate::model::{Architecture, TimeWindow};
use crate::pacer::Plan;

/// Services (and volumes) per architecture page (`EnvironmentArchitecture`'s `first: 100`).
const ARCHITECTURE_PAGE: usize = 100;

/// The requests of one health read (`monitor-project-health`'s read), by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthReadCost {
    /// Architecture pages (services and volumes page independently, 100 a page).
    pub architecture: usize,
    /// CPU and memory limits, read once as scalars.
    pub limits: usize,
    /// CPU and memory usage, in time slices within the points budget.
    pub usage: usize,
    /// HTTP metrics batches of the services that are not databases.
    pub http: usize,
    /// The environment's recent deployments.
    pub deployments: usize,
    /// Latency baselines: one request, only when the window's figures make a normal matter.
    pub baselines_at_most: usize,
}

impl HealthReadCost {
    /// The plan for `all` (the environment as read: what the architecture pages and the usage
    /// read cover) and `monitored` (after ignored services are left out: what HTTP figures are
    /// read for) over a window of `window_seconds`; `endpoint_rows` as the client's HTTP settings
    /// have it.
    pub fn plan(
        all: &Architecture,
        monitored: &Architecture,
        window_seconds: i64,
        endpoint_rows: u32,
    ) -> Self {
        let window = TimeWindow {
            start: 0,
            end: window_seconds.max(1),
        };
        let pages = |n: usize| n.div_ceil(ARCHITECTURE_PAGE);
        Self {
            architecture: pages(all.services.len())
                .max(pages(all.volumes.len()))
                .max(1),
            limits: 1,
            usage: usage_plan(window, all.services.len()).len(),
            http: http_plan(&http_services(monitored), window, endpoint_rows).len(),
            deployments: 1,
            baselines_at_most: 1,
        }
    }

    /// Requests of a cycle in which no service needs a baseline.
    pub fn quiet(&self) -> usize {
        self.architecture + self.limits + self.usage + self.http + self.deployments
    }

    /// Requests of a cycle at most (baselines read), before any incident's context and fix.
    pub fn at_most(&self) -> usize {
        self.quiet() + self.baselines_at_most
    }
}

impl crate::RailwayClient {
    /// [`HealthReadCost::plan`] with this client's HTTP settings.
    pub fn health_read_cost(
        &self,
        all: &Architecture,
        monitored: &Architecture,
        window_seconds: i64,
    ) -> HealthReadCost {
        HealthReadCost::plan(
            all,
            monitored,
            window_seconds,
            self.http_config.endpoint_rows,
        )
    }
}

/// Whether cycles of `per_cycle` requests, `runs_per_hour` of them in the busiest hour, fit a
/// plan's hourly limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyFit {
    /// Requests the busiest hour needs.
    pub per_hour: usize,
    /// The plan's hourly limit.
    pub limit: usize,
    /// What to do about it.
    pub verdict: Fit,
}

/// The outcome of [`HourlyFit::judge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// The busiest hour stays within the plan.
    Fits,
    /// It does not; this slower cron expression (every 10, 15, 20 or 30 minutes, or hourly)
    /// would.
    Slower(String),
    /// One cycle alone is over the hour's budget: no schedule fits this plan.
    Never,
}

impl HourlyFit {
    /// Judges `per_cycle` × `runs_per_hour` against `plan`.
    pub fn judge(per_cycle: usize, runs_per_hour: usize, plan: Plan) -> Self {
        let limit = plan.per_hour();
        let per_hour = per_cycle * runs_per_hour;
        let verdict = if per_hour <= limit {
            Fit::Fits
        } else if let Some(m) = [10, 15, 20, 30]
            .into_iter()
            .find(|m| 60 / m < runs_per_hour && per_cycle * (60 / m) <= limit)
        {
            Fit::Slower(format!("*/{m} * * * *"))
        } else if per_cycle <= limit {
            Fit::Slower("0 * * * *".to_owned())
        } else {
            Fit::Never
        };
        Self {
            per_hour,
            limit,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_over_the_hourly_limit_gets_the_next_interval_that_fits() {
        let fit = HourlyFit::judge(410, 6, Plan::Hobby);
        assert_eq!((fit.per_hour, fit.limit), (2460, 1000));
        assert_eq!(fit.verdict, Fit::Slower("*/30 * * * *".into()));
        assert_eq!(HourlyFit::judge(104, 6, Plan::Hobby).verdict, Fit::Fits);
        assert_eq!(
            HourlyFit::judge(43, 6, Plan::Free).verdict,
            Fit::Slower("*/30 * * * *".into())
        );
        assert_eq!(
            HourlyFit::judge(60, 6, Plan::Free).verdict,
            Fit::Slower("0 * * * *".into())
        );
        assert_eq!(
            HourlyFit::judge(300, 4, Plan::Hobby).verdict,
            Fit::Slower("*/20 * * * *".into()),
            "only slower schedules are suggested"
        );
        assert_eq!(HourlyFit::judge(1200, 1, Plan::Hobby).verdict, Fit::Never);
        assert_eq!(HourlyFit::judge(410, 6, Plan::Pro).verdict, Fit::Fits);
    }
}
