//! The demo: a consumer VPC, a gateway running eplink's XDP program and a provider with a
//! real HTTP server on a load balancer VIP; a request through the ENI, then the map contents.

use anyhow::Result;

pub fn run() -> Result<()> {
    anyhow::bail!("demo not written yet")
}
