//! What happened to a packet: one code per verdict and reason, counted per CPU.
//!
//! The XDP program ends every packet in exactly one outcome; `GLOBAL_STATS` counts them all,
//! and the outcomes that concern an ENI are also counted in that ENI's `EniStats`.

/// The verdict and reason of one packet. The discriminant indexes `GLOBAL_STATS`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Consumer → service: rewritten and redirected to the provider side.
    Forwarded = 0,
    /// Service → consumer: rewritten and redirected back to the consumer interface.
    Reversed = 1,
    /// ICMP echo request to an ENI, answered by the program itself: consumer VPCs
    /// may overlap, so the kernel could not route the reply back to the right one.
    EchoAnswered = 2,
    /// Arrived on an interface eplink does not manage (or a VLAN it does not serve).
    PassUnknownInterface = 3,
    /// Not IPv4 (ARP, IPv6 until it is served, LLDP, ...): the kernel's business.
    PassNotIpv4 = 4,
    /// IPv4 but neither TCP nor UDP nor an echo request to an ENI.
    PassNotTcpUdp = 5,
    /// TCP/UDP to an address that is no ENI of the interface's VPC.
    PassNotEni = 6,
    /// On a provider interface, not a reply to a tracked flow.
    PassNoFlow = 7,
    /// Rewritten, but the provider-side neighbour is not resolved yet: the kernel forwards
    /// this packet and resolves the neighbour for the next one.
    PassNoNeighbour = 8,
    /// Frame shorter than its headers claim, or a header with impossible fields.
    DropMalformed = 9,
    /// IPv4 fragment addressed to an ENI: eplink does not reassemble, so it cannot NAT it.
    DropFragment = 10,
    /// The ENI's zone connection is not `Connected`.
    DropZoneNotConnected = 11,
    /// Over the connection's bandwidth limit.
    DropRateLimited = 12,
    /// The zone has no SNAT address configured.
    DropNoSnatPool = 13,
    /// Every SNAT port tried was taken.
    DropPortExhausted = 14,
    /// The flow table refused the new flow.
    DropFlowTableFull = 15,
    /// No route towards the service resource.
    DropNoRoute = 16,
    /// A tracked flow whose ENI was deleted or reused since the flow was created.
    DropStaleFlow = 17,
}

/// Number of distinct outcomes (size of `GLOBAL_STATS`, length of `EniStats::drops`).
pub const OUTCOME_COUNT: usize = 18;

impl Outcome {
    /// Every outcome, in discriminant order.
    pub const ALL: [Outcome; OUTCOME_COUNT] = [
        Outcome::Forwarded,
        Outcome::Reversed,
        Outcome::EchoAnswered,
        Outcome::PassUnknownInterface,
        Outcome::PassNotIpv4,
        Outcome::PassNotTcpUdp,
        Outcome::PassNotEni,
        Outcome::PassNoFlow,
        Outcome::PassNoNeighbour,
        Outcome::DropMalformed,
        Outcome::DropFragment,
        Outcome::DropZoneNotConnected,
        Outcome::DropRateLimited,
        Outcome::DropNoSnatPool,
        Outcome::DropPortExhausted,
        Outcome::DropFlowTableFull,
        Outcome::DropNoRoute,
        Outcome::DropStaleFlow,
    ];

    /// Stable snake-case name used by the CLI, JSON output and metrics labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Reversed => "reversed",
            Outcome::EchoAnswered => "echo_answered",
            Outcome::PassUnknownInterface => "pass_unknown_interface",
            Outcome::PassNotIpv4 => "pass_not_ipv4",
            Outcome::PassNotTcpUdp => "pass_not_tcp_udp",
            Outcome::PassNotEni => "pass_not_eni",
            Outcome::PassNoFlow => "pass_no_flow",
            Outcome::PassNoNeighbour => "pass_no_neighbour",
            Outcome::DropMalformed => "drop_malformed",
            Outcome::DropFragment => "drop_fragment",
            Outcome::DropZoneNotConnected => "drop_zone_not_connected",
            Outcome::DropRateLimited => "drop_rate_limited",
            Outcome::DropNoSnatPool => "drop_no_snat_pool",
            Outcome::DropPortExhausted => "drop_port_exhausted",
            Outcome::DropFlowTableFull => "drop_flow_table_full",
            Outcome::DropNoRoute => "drop_no_route",
            Outcome::DropStaleFlow => "drop_stale_flow",
        }
    }

    /// True for the outcomes that discard the packet.
    #[must_use]
    pub const fn is_drop(self) -> bool {
        (self as u32) >= (Outcome::DropMalformed as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }

    #[test]
    fn drops_are_exactly_the_drop_prefixed_names() {
        for o in Outcome::ALL {
            assert_eq!(o.is_drop(), o.name().starts_with("drop_"), "{}", o.name());
        }
    }
}
